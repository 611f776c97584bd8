"""The direct path under python-socketio (signaling/fastpath.py), against a real aiohttp server and real clients.

These tests pin the private python-socketio/python-engineio surface the fast path relies on: if an upgrade of
either library changes it, they fail here rather than in a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer

from signaling.fastpath import FastSocketServer, LeanWebSocket
from tests.rawsocket import RawSocket

NS = "/t"


@dataclass
class Harness:
    server: TestServer
    sio: FastSocketServer
    fast_calls: list[tuple[str, Any, int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    async def client(self, transports: list[str] | None = None) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(self.url, namespaces=[NS], transports=transports or ["websocket"], wait_timeout=5)
        return client


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    sio = FastSocketServer(NS, async_mode="aiohttp", async_handlers=False, ping_interval=0.4, ping_timeout=2,
                           max_http_buffer_size=4096)
    app = web.Application()
    sio.attach(app)
    server = TestServer(app, host="127.0.0.1")
    state = Harness(server, sio)

    async def fast_echo(sid: str, payload: Any, frame_bytes: int) -> dict[str, Any]:
        state.fast_calls.append((sid, payload, frame_bytes))
        await sio.enter_room(sid, "everyone", namespace=NS)
        await sio.emit_fast("echoed", {"payload": payload}, "everyone")
        return {"ok": True, "seen": payload}

    async def slow_echo(sid: str, payload: Any = None) -> dict[str, Any]:
        return {"ok": True, "slow": payload}

    sio.on_fast("echo", fast_echo)
    sio.on("slow", slow_echo, namespace=NS)
    await server.start_server()
    try:
        yield state
    finally:
        await sio.shutdown()
        await server.close()


async def test_registered_event_takes_the_fast_path_with_the_same_ack_and_delivery(harness: Harness) -> None:
    client = await harness.client()
    echoed: asyncio.Queue[Any] = asyncio.Queue()
    client.on("echoed", echoed.put, namespace=NS)
    try:
        ack = await client.call("echo", {"x": "é", "n": [1, 2]}, namespace=NS, timeout=5)
        assert ack == {"ok": True, "seen": {"x": "é", "n": [1, 2]}}
        assert await asyncio.wait_for(echoed.get(), 5) == {"payload": {"x": "é", "n": [1, 2]}}
        (sid, payload, frame_bytes), = harness.fast_calls
        assert sid == client.get_sid(NS) and payload == {"x": "é", "n": [1, 2]}
        # The whole frame's size bounds the payload's: 2/t,<id>["echo",<payload>] however the client spaces it.
        assert len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()) + 14 <= frame_bytes < 80
        # Other events still go through python-socketio.
        assert await client.call("slow", {"y": 1}, namespace=NS, timeout=5) == {"ok": True, "slow": {"y": 1}}
        assert len(harness.fast_calls) == 1
    finally:
        await client.disconnect()


async def test_two_payloads_get_an_error_ack_and_the_connection_survives(harness: Harness) -> None:
    client = await harness.client()
    try:
        ack = await client.call("echo", ({"a": 1}, {"b": 2}), namespace=NS, timeout=5)
        assert ack["ok"] is False and ack["error"] == "invalid"
        assert harness.fast_calls == []
        assert (await client.call("echo", {"a": 1}, namespace=NS, timeout=5))["ok"] is True
    finally:
        await client.disconnect()


async def test_event_without_ack_and_binary_payloads_are_handled(harness: Harness) -> None:
    client = await harness.client()
    echoed: asyncio.Queue[Any] = asyncio.Queue()
    client.on("echoed", echoed.put, namespace=NS)
    try:
        await client.emit("echo", {"no": "ack"}, namespace=NS)
        assert await asyncio.wait_for(echoed.get(), 5) == {"payload": {"no": "ack"}}
        # A binary payload is a different socket.io packet type: the library's path, unchanged.
        assert await client.call("slow", {"blob": b"\x00\x01"}, namespace=NS, timeout=5) == {
            "ok": True, "slow": {"blob": b"\x00\x01"}}
    finally:
        await client.disconnect()


async def test_sockets_use_the_lean_loop_survive_pings_and_are_released(harness: Harness) -> None:
    client = await harness.client()
    try:
        (socket,) = harness.sio.eio.sockets.values()
        assert type(socket) is LeanWebSocket
        await asyncio.sleep(1.5)  # several ping/pong cycles at ping_interval 0.4 s
        assert client.connected
        assert (await client.call("echo", 1, namespace=NS, timeout=5))["seen"] == 1
    finally:
        await client.disconnect()
    async with asyncio.timeout(1):  # released at once, not by the monitor task's later sweep
        while harness.sio.eio.sockets:
            await asyncio.sleep(0.05)


async def test_polling_upgrade_to_websocket_still_works(harness: Harness) -> None:
    client = await harness.client(transports=["polling", "websocket"])
    try:
        async with asyncio.timeout(5):
            while client.transport() != "websocket":
                await asyncio.sleep(0.05)
        assert (await client.call("echo", "after upgrade", namespace=NS, timeout=5))["seen"] == "after upgrade"
    finally:
        await client.disconnect()


async def test_frame_over_the_transport_limit_closes_only_that_connection(harness: Harness) -> None:
    big, small = await harness.client(), await harness.client()
    try:
        await big.emit("echo", {"x": "y" * 8000}, namespace=NS)
        async with asyncio.timeout(5):
            while big.connected:
                await asyncio.sleep(0.05)
        assert (await small.call("echo", "still here", namespace=NS, timeout=5))["seen"] == "still here"
        assert harness.fast_calls == [(small.get_sid(NS), "still here", harness.fast_calls[0][2])]
    finally:
        await small.disconnect()
        if big.connected:
            await big.disconnect()


async def test_a_client_that_goes_silent_is_dropped_after_ping_interval_plus_timeout(harness: Harness) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{harness.url}socket.io/?EIO=4&transport=websocket")
        opened = await ws.receive_str(timeout=5)
        assert opened.startswith("0{")
        await ws.send_str(f"40{NS},")
        assert (await ws.receive_str(timeout=5)).startswith(f"40{NS},")
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Never answer the server's pings: within ping interval 0.4 s + timeout 2 s (+ slack) it must let go.
        async with asyncio.timeout(8):
            while not ws.closed:
                message = await ws.receive()
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    break
        assert loop.time() - started >= 2.0
    async with asyncio.timeout(5):
        while harness.sio.eio.sockets:
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _raw(harness: Harness) -> AsyncIterator[RawSocket]:
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, harness.url, namespaces=(NS,))
        try:
            yield raw
        finally:
            await raw.close()


def test_reserved_names_cannot_be_fast_events() -> None:
    sio = FastSocketServer(NS, async_mode="aiohttp")
    for name in ("connect", "disconnect", "connect_error", "*"):
        with pytest.raises(ValueError, match="reserved"):
            sio.on_fast(name, lambda *args: None)  # type: ignore[arg-type, return-value]


async def test_reserved_and_unregistered_names_are_refused_on_both_paths(harness: Harness) -> None:
    seen: list[str] = []

    async def on_disconnect(sid: str, reason: Any = None) -> None:
        seen.append("disconnect")

    harness.sio.on("disconnect", on_disconnect, namespace=NS)
    async with _raw(harness) as raw:
        for frame in ('["disconnect"]', '["connect",{}]', '["connect_error"]', '["*","slow"]', '["nope",1]'):
            assert (await raw.call(NS, frame)) == {"ok": False, "error": "unknown_event", "message": "unknown event"}
        # Not in a namespace it never connected: no answer there, and still nothing run.
        await raw.send('2/other,9["disconnect"]')
        assert seen == [] and harness.fast_calls == []
        assert (await raw.call(NS, '["echo",1]'))["seen"] == 1
        assert (await raw.call(NS, '["slow",2]')) == {"ok": True, "slow": 2}


async def test_an_announced_binary_packet_never_completed_is_released_on_disconnect(harness: Harness) -> None:
    async with _raw(harness) as raw:
        await raw.send(f'52-{NS},["slow",{{"_placeholder":true,"num":0}},{{"_placeholder":true,"num":1}}]')
        await raw.ws.send_bytes(b"\x00" * 100)
        async with asyncio.timeout(5):
            while not harness.sio._binary_packet:
                await asyncio.sleep(0.02)
    async with asyncio.timeout(5):
        while harness.sio.eio.sockets:
            await asyncio.sleep(0.02)
    assert harness.sio._binary_packet == {}


async def test_binary_attachments_for_an_unconnected_namespace_are_not_kept(harness: Harness) -> None:
    async with _raw(harness) as raw:
        for _ in range(50):
            await raw.send('51-/other,["slow",{"_placeholder":true,"num":0}]')
            await raw.ws.send_bytes(b"\x00" * 1000)
        assert (await raw.call(NS, '["slow",3]')) == {"ok": True, "slow": 3}
        assert harness.sio._binary_packet == {}


async def test_deep_connect_and_ack_packets_are_refused_before_the_library_parses_them(harness: Harness) -> None:
    deep = "[" * 1500 + "]" * 1500  # deeper than orjson's own limit (1024), within the harness's 4 KiB frames
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, harness.url, namespaces=())
        try:
            await raw.ws.send_str(f'40{NS},{{"token":{deep}}}')
            refused = await raw.expect(lambda p: p.startswith(f"4{NS},"))
            assert "nested more than 32 levels" in refused and '"invalid"' in refused
            await raw.send(f"3{NS},1{deep}")  # an ack nobody asked for, too deep: dropped
            assert (await raw.connect(NS)).startswith(f"0{NS},")  # the connection still works
            assert (await raw.call(NS, '["slow",4]')) == {"ok": True, "slow": 4}
        finally:
            await raw.close()
