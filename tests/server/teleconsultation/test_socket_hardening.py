"""Hand-written socket.io frames against the real server (issue 9): what an attacker's script sends, not what a
well-behaved client library would. Both namespaces (``/call`` and ``/expertise``), the fast path (``signal``) and
the library path (every other event)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import ConfigError, LimitSettings, Settings
from server.keys import db_key, signaling_key
from server.platform.db import SessionFactory
from server.platform.models import Participant
from tests.conftest import LiveServer, free_port, make_settings, serve
from tests.fakes import Browser, join_as_patient, make_user, new_consultation
from tests.rawsocket import RawSocket

NOBODY = "0" * 32  # a well-formed participant id nobody has
RESTART = '{"to":"' + NOBODY + '","data":{"restartRequest":true}}'


async def _doctor(server: Any) -> Browser:
    await make_user(server, "drhouse")
    doctor = Browser(server)
    assert (await doctor.login("drhouse")).status == 303
    return doctor


async def _raw(server: Any, browser: Browser, namespaces: tuple[str, ...] = ("/call",)) -> RawSocket:
    return await RawSocket.open(browser.session, server.url, namespaces=namespaces,
                                headers={"Cookie": browser.cookie_header(), "Origin": server.url})


async def _joined_patient(server: Any) -> tuple[Browser, Browser, RawSocket, str]:
    doctor = await _doctor(server)
    created = await new_consultation(doctor)
    patient = await join_as_patient(server, created["link"]["url"])
    sock = await _raw(server, patient)
    joined = await sock.call("/call", '["join",{"instance":"p-1"}]')
    assert joined["ok"], joined
    return doctor, patient, sock, joined["me"]


async def _online(server: Any, participant_id: str) -> bool:
    async with server.app[db_key]() as session:
        row = await session.get(Participant, participant_id)
        assert row is not None
        return bool(row.online)


async def _close(*things: Any) -> None:
    for thing in things:
        if isinstance(thing, Browser):
            await thing.session.close()
        else:
            await thing.close()


# -- High 3: WebSocket only ------------------------------------------------------------------------------------
async def test_long_polling_is_refused_at_once(live_server: LiveServer) -> None:
    async with Browser(live_server) as anonymous:
        async with asyncio.timeout(3):  # python-engineio 4.15 never answers an oversized polling POST
            opened = await anonymous.session.get("/socket.io/?EIO=4&transport=polling")
            handshake = await opened.text()
            sid = handshake.split('"sid":"', 1)[1].split('"', 1)[0] if '"sid":"' in handshake else "none"
            posted = await anonymous.session.post(f"/socket.io/?EIO=4&transport=polling&sid={sid}",
                                                  data=b"4" + b"x" * 200_000)
            assert opened.status == 400 and "Invalid transport" in handshake
            assert posted.status == 400
        assert live_server.app[signaling_key].sio.eio.sockets == {}


# -- High 2: reserved and unregistered event names ---------------------------------------------------------------
@pytest.mark.parametrize("frame", [
    '["disconnect"]', '["disconnect","client namespace disconnect"]', '["connect",{}]', '["connect_error"]',
    '["*","join"]', '["no-such-event",{}]',
])
async def test_reserved_event_names_on_call_run_no_server_handler(live_server: LiveServer, frame: str) -> None:
    doctor, patient, sock, me = await _joined_patient(live_server)
    try:
        ack = await sock.call("/call", frame)
        assert ack == {"ok": False, "error": "unknown_event", "message": "unknown event"}
        assert await _online(live_server, me)  # the server's disconnect handler did not run
        assert (await sock.call("/call", '["ready"]'))["ok"]  # and the connection keeps serving
    finally:
        await _close(sock, doctor, patient)


async def test_reserved_event_names_on_expertise_run_no_server_handler(live_server: LiveServer) -> None:
    doctor = await _doctor(live_server)
    sock = await _raw(live_server, doctor, namespaces=("/expertise",))
    try:
        for frame in ('["disconnect"]', '["connect",{}]', '["connect_error"]', '["request",{}]'):
            ack = await sock.call("/expertise", frame, timeout=3)
            assert ack["ok"] is False and ack["error"] == "unknown_event", (frame, ack)
        rooms = live_server.app[signaling_key].sio.manager.rooms["/expertise"]
        assert sum(1 for room in rooms if room and room.startswith("u:")) == 1  # connect ran once, not twice
    finally:
        await _close(sock, doctor)


async def test_signal_rate_limit_survives_reconnects_and_a_second_socket(live_server: LiveServer) -> None:
    doctor, patient, first, me = await _joined_patient(live_server)
    second = None
    try:
        acks = [await first.call("/call", f'["signal",{RESTART}]') for _ in range(120)]
        assert acks[-1]["error"] == "rate_limited"  # the app clock does not move: no refill
        # Re-running connect with its own cookie used to hand out a fresh bucket.
        assert (await first.call("/call", '["connect",{}]'))["error"] == "unknown_event"
        assert (await first.call("/call", f'["signal",{RESTART}]'))["error"] == "rate_limited"
        second = await _raw(live_server, patient)
        assert (await second.call("/call", '["join",{"instance":"p-1"}]'))["me"] == me
        assert (await second.call("/call", f'["signal",{RESTART}]'))["error"] == "rate_limited"
        live_server.clock.advance(seconds=1)  # refills at 50 per second
        assert (await second.call("/call", f'["signal",{RESTART}]'))["error"] == "forbidden"  # past the limit
    finally:
        await _close(first, *([second] if second else []), doctor, patient)


# -- Low: nesting depth and lone surrogates -------------------------------------------------------------------
async def test_deeply_nested_frames_get_an_invalid_ack(live_server: LiveServer) -> None:
    doctor, patient, sock, _ = await _joined_patient(live_server)
    try:
        for event in ("signal", "chat", "join"):  # the fast path, then the library's
            for depth in (40, 1500, 20_000):
                ack = await sock.call("/call", f'["{event}",{"[" * depth}{"]" * depth}]')
                assert ack["ok"] is False and ack["error"] == "invalid", (event, depth, ack)
                assert "nested more than 32 levels" in ack["message"]
        assert (await sock.call("/call", '["ready"]'))["ok"]  # the connection keeps serving
    finally:
        await _close(sock, doctor, patient)


async def test_lone_surrogates_are_refused_naming_the_field(live_server: LiveServer) -> None:
    doctor, patient, sock, _ = await _joined_patient(live_server)
    cases = [
        ('["chat",{"text":"x\\udcff"}]', "text"),
        ('["signal",{"to":"' + NOBODY + '","data":{"candidate":{"candidate":"candidate:\\ud800 1"}}}]',
         "data.candidate.candidate"),
        ('["join",{"instance":"\\udcff"}]', "instance"),
        ('["chat",{"te\\udcffxt":"x"}]', "a field name in payload"),
        ('["ch\\udcffat",{}]', "event name"),
    ]
    try:
        for frame, field in cases:
            ack = await sock.call("/call", frame)
            assert ack["ok"] is False and ack["error"] == "invalid", (frame, ack)
            assert ack["message"].startswith(field) and "Unicode" in ack["message"], ack
        assert (await sock.call("/call", '["ready"]'))["ok"]
    finally:
        await _close(sock, doctor, patient)


# -- §4a 10: binary packets ---------------------------------------------------------------------------------------
async def test_binary_packets_are_refused_and_never_held(live_server: LiveServer) -> None:
    doctor, patient, sock, _ = await _joined_patient(live_server)
    sio = live_server.app[signaling_key].sio
    try:
        # For a namespace this socket never connected: nothing kept.
        await sock.send('51-/other,["x",{"_placeholder":true,"num":0}]')
        await sock.ws.send_bytes(b"\x00" * 1000)
        # For its own namespace, with an ack: refused at once rather than held until attachments arrive.
        await sock.send('51-/call,7["chat",{"_placeholder":true,"num":0}]')
        ack = await sock.ack("/call", 7)
        assert ack["error"] == "invalid" and "binary" in ack["message"]
        assert sio._binary_packet == {}
        await sock.ws.send_bytes(b"\x01" * 1000)  # its attachment, late: dropped
        # The next text event is an event, not mistaken for an attachment.
        assert (await sock.call("/call", '["ready"]'))["ok"]
        # Announced, never completed, then the client leaves: nothing is left behind.
        await sock.send('52-/call,["chat",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
        await sock.close()
        async with asyncio.timeout(5):
            while sio.eio.sockets:
                await asyncio.sleep(0.02)
        assert sio._binary_packet == {}
    finally:
        await _close(sock, doctor, patient)


# -- §4a 11: ping/pong spam -----------------------------------------------------------------------------------
async def test_ping_and_pong_spam_creates_no_tasks(live_server: LiveServer) -> None:
    doctor, patient, sock, _ = await _joined_patient(live_server)
    try:
        before = len(asyncio.all_tasks())
        for _ in range(2000):
            await sock.ws.send_str("3")  # unsolicited PONGs (CVE-2026-48802: one task each)
            await sock.ws.send_str("2")  # and PINGs
        assert (await sock.call("/call", '["ready"]', timeout=10))["ok"]  # all of them processed by now
        assert len(asyncio.all_tasks()) <= before + 5
    finally:
        await _close(sock, doctor, patient)


# -- Low: connects per address ----------------------------------------------------------------------------------
@pytest.fixture
async def limited_server(db: tuple[AsyncEngine, SessionFactory], database_url: str,
                         test_certs: Any) -> AsyncIterator[LiveServer]:
    """The real app with a small connect budget: 5 at once, then 1 per second of the (manual) app clock."""
    settings = make_settings(database_url, free_port(),
                             limits=LimitSettings(socket_connect_burst=5, socket_connects_per_s=1.0))
    async with serve(settings, test_certs) as server:
        yield server


async def _connect_answer(server: LiveServer, browser: Browser) -> tuple[RawSocket, str]:
    ws_url = server.url.replace("https://", "wss://")
    ws = await browser.session.ws_connect(f"{ws_url}/socket.io/?EIO=4&transport=websocket",
                                          headers={"Origin": server.url})
    assert (await ws.receive_str(timeout=5)).startswith("0{")
    raw = RawSocket(ws)
    return raw, await raw.connect("/call")


async def test_connects_from_one_address_are_limited_with_a_clear_connect_error(limited_server: LiveServer) -> None:
    doctor = await _doctor(limited_server)
    accepted: list[RawSocket] = []
    try:
        for _ in range(5):
            sock, answer = await _connect_answer(limited_server, doctor)
            assert answer.startswith("0/call,{"), answer
            accepted.append(sock)
        tasks = len(asyncio.all_tasks())
        for _ in range(20):
            refused, answer = await _connect_answer(limited_server, doctor)
            assert answer.startswith("4/call,"), answer
            assert "too many connections from your address" in answer and '"rate_limited"' in answer
            assert await refused.closed_by_server()  # and the server lets go of it
            await refused.close()
        # One over the limit that never sends its namespace connect is let go too, within the 2 s grace.
        ws = await doctor.session.ws_connect(
            f"{limited_server.url.replace('https://', 'wss://')}/socket.io/?EIO=4&transport=websocket",
            headers={"Origin": limited_server.url})
        assert await RawSocket(ws).closed_by_server(timeout=4)
        await ws.close()
        async with asyncio.timeout(5):
            while len(limited_server.app[signaling_key].sio.eio.sockets) > 5:
                await asyncio.sleep(0.02)
        assert len(asyncio.all_tasks()) <= tasks + 5  # refused connects leave nothing running
        assert (await accepted[0].call("/call", '["ready"]'))["message"] == "join first"  # the others keep serving
        limited_server.clock.advance(seconds=1.0)
        sock, answer = await _connect_answer(limited_server, doctor)
        accepted.append(sock)
        assert answer.startswith("0/call,{")
    finally:
        await _close(*accepted, doctor)


def test_connect_budget_defaults_refuse_a_300_connect_burst_and_are_configurable(tmp_path: Path) -> None:
    limits = Settings.from_env({}, var_dir=tmp_path).limits
    assert limits.socket_connect_burst + 3 * limits.socket_connects_per_s < 100  # of 300 in 2.8 s
    behind_proxy = Settings.from_env({"LUCARNE_SOCKET_CONNECT_BURST": "2000",
                                      "LUCARNE_SOCKET_CONNECTS_PER_S": "200"}, var_dir=tmp_path).limits
    assert (behind_proxy.socket_connect_burst, behind_proxy.socket_connects_per_s) == (2000, 200.0)
    with pytest.raises(ConfigError):
        Settings.from_env({"LUCARNE_SOCKET_CONNECTS_PER_S": "0"}, var_dir=tmp_path)
