"""A light socket.io v5 / engine.io v4 client over a plain aiohttp WebSocket, for load generation only.

``socketio.AsyncClient`` saturates a core before the server under test does, so the signaling benchmark speaks the
text frames directly (websocket transport only, no polling, no binary attachments):

* engine.io open ``0{...}``, ping ``2`` answered with pong ``3``, message ``4...``;
* socket.io namespace connect ``40/call,`` answered with ``40/call,{"sid": ...}`` (or ``44/call,{...}`` refused);
* event with ack ``42/call,<id>["event",{...}]``, ack ``43/call,<id>[{...}]``;
* server event ``42/call,["event",{...}]``.

The hot path (:meth:`SioConnection.emit_raw`, :attr:`SioConnection.on_event_raw`) never parses JSON: the caller
pre-serialises the payload and receives the frame text, so a relayed message costs the client one send and one
or two receives.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

__all__ = ["SioConnection", "SioError"]

EVENT_PREFIX = "42/call,"
ACK_PREFIX = "43/call,"


class SioError(RuntimeError):
    pass


class SioConnection:
    """One websocket carrying the ``/call`` namespace."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, namespace: str = "/call") -> None:
        self.ws = ws
        self.namespace = namespace
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        # Hot-path hooks: called with the raw frame text (no JSON parsing here); the event hook is awaited in the
        # reader, so a reply sent from it costs no extra task.
        self.on_event_raw: Callable[[str], Awaitable[None]] | None = None
        self.on_ack_raw: Callable[[str], None] | None = None
        self.events: asyncio.Queue[tuple[str, Any]] | None = None  # parsed events, only when asked for
        self.closed = asyncio.Event()

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, base_url: str, *, cookie: str, origin: str,
                      namespace: str = "/call", timeout: float = 10) -> SioConnection:
        url = f"{base_url.replace('http', 'ws', 1)}/socket.io/?EIO=4&transport=websocket"
        headers = {"Origin": origin}
        if cookie:
            headers["Cookie"] = cookie
        ws = await session.ws_connect(url, headers=headers, autoping=True, timeout=aiohttp.ClientWSTimeout(ws_close=5),
                                      max_msg_size=4 * 1024 * 1024)
        async with asyncio.timeout(timeout):
            first = await ws.receive()
            if first.type != aiohttp.WSMsgType.TEXT or not first.data.startswith("0"):
                await ws.close()
                raise SioError(f"no engine.io open packet: {first!r}")
            await ws.send_str(f"40{namespace},")
            while True:
                reply = await ws.receive()
                if reply.type != aiohttp.WSMsgType.TEXT:
                    raise SioError(f"connection closed during namespace connect: {reply!r}")
                if reply.data == "2":
                    await ws.send_str("3")
                    continue
                if reply.data.startswith(f"40{namespace},"):
                    break
                if reply.data.startswith(f"44{namespace},"):
                    await ws.close()
                    raise SioError(f"namespace connect refused: {reply.data}")
        conn = cls(ws, namespace)
        conn._reader = asyncio.create_task(conn._read())
        return conn

    async def _read(self) -> None:
        ws = self.ws
        ack_prefix = ACK_PREFIX if self.namespace == "/call" else f"43{self.namespace},"
        event_prefix = EVENT_PREFIX if self.namespace == "/call" else f"42{self.namespace},"
        ack_len = len(ack_prefix)
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data: str = msg.data
                if data.startswith(event_prefix):
                    hook = self.on_event_raw
                    if hook is not None:
                        await hook(data)
                    elif self.events is not None:
                        name, *args = json.loads(data[len(event_prefix):])
                        self.events.put_nowait((name, args[0] if args else None))
                elif data.startswith(ack_prefix):
                    bracket = data.index("[", ack_len)
                    ack_id = int(data[ack_len:bracket])
                    future = self._pending.pop(ack_id, None)
                    if future is not None:
                        if not future.done():
                            future.set_result(json.loads(data[bracket:])[0])
                    elif self.on_ack_raw is not None:
                        self.on_ack_raw(data)
                elif data == "2":
                    await ws.send_str("3")
                elif data.startswith("41"):
                    break
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SioError("connection closed"))
            self._pending.clear()

    async def call(self, event: str, payload: Any = None, timeout: float = 10) -> Any:
        """Emit with an ack and wait for it (set-up path; parses JSON)."""
        ack_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ack_id] = future
        body = json.dumps([event] if payload is None else [event, payload], separators=(",", ":"))
        await self.ws.send_str(f"42{self.namespace},{ack_id}{body}")
        async with asyncio.timeout(timeout):
            return await future

    async def emit_raw(self, body: str) -> None:
        """Emit a pre-serialised ``["event",{...}]`` body with an ack id; the ack goes to :attr:`on_ack_raw`."""
        await self.ws.send_str(f"42{self.namespace},{next(self._ids)}{body}")

    async def next_event(self, name: str, timeout: float = 10) -> Any:
        if self.events is None:
            raise SioError("events are not recorded on this connection")
        async with asyncio.timeout(timeout):
            while True:
                event, data = await self.events.get()
                if event == name:
                    return data

    async def close(self) -> None:
        if not self.ws.closed:
            try:
                await self.ws.send_str(f"41{self.namespace},")
            except (aiohttp.ClientError, ConnectionError):
                pass
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()
