"""A direct path for the hottest socket.io event, below python-socketio's packet layer.

A call's signaling is mostly ``signal`` events (an offer, an answer, a few dozen ICE candidates, restarts). Through
python-socketio's public API each one is decoded into a ``Packet``, scanned twice for binary attachments, dispatched
through ``_handle_event``/``_trigger_event``, re-encoded with the standard ``json`` module for the room lookup of
``emit`` and again for the acknowledgement: about 270 µs of one core per relayed message on these machines, against
30 µs for a bare aiohttp WebSocket relay (docs/benchmarks.md). This module keeps python-socketio for everything
(connection, rooms, every other event, the Redis manager) and only takes over text frames of the form
``2/call,<ack id>["<event>",<payload>]`` for the events the host registers: it parses them once with orjson, hands
the payload to the host's coroutine, and queues the outgoing socket.io frames as ready-encoded text on the
Engine.IO sockets. Anything it does not recognise goes down the library's own path unchanged.

Below that, python-engineio's WebSocket loop creates two tasks and two ``wait_for`` timers per frame (the reader
wraps every ``ws.wait()`` in a task, the writer every ``queue.get()``). :class:`LeanWebSocket` is the same loop with
one deadline per connection pushed back lazily by a watchdog, frames written straight to the aiohttp response, and
the message event dispatched without ``_trigger_event``'s per-call coroutine inspection; every socket of this
server gets it as soon as the Engine.IO connection exists, before the WebSocket upgrade starts. Polling, upgrades, pings and closing are the library's.

Private surface used (versions pinned in pyproject.toml, covered by tests/signaling/test_fastpath.py):
``socketio.AsyncServer._handle_eio_message`` / ``_handle_eio_connect`` / ``_binary_packet``, the manager's
``sid_from_eio_sid`` / ``get_participants``, ``engineio.AsyncServer.sockets``, the
``engineio.async_socket.AsyncSocket`` attributes the loop reads (``queue``, ``closed``, ``closing``, ``server``) and
the aiohttp driver's ``_sock``; the socket.io v5 text encoding (type digit,
``/namespace,``, ack id, JSON array).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

logger = logging.getLogger(__name__)

__all__ = ["FastEvent", "FastSocketServer", "encode_event"]

# (socket id, payload, size of the frame in bytes) -> acknowledgement
FastEvent = Callable[[str, Any, int], Awaitable[dict[str, Any]]]

_EVENT, _ACK = "2", "3"


def encode_event(namespace: str, event: str, data: Any) -> str:
    """The socket.io text frame of an event without acknowledgement (what ``emit`` would send)."""
    return f"{_EVENT}{namespace},{orjson.dumps([event, data]).decode()}"


class FastSocketServer(socketio.AsyncServer):
    """``socketio.AsyncServer`` that routes registered text events of one namespace straight to a coroutine."""

    def __init__(self, namespace: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_namespace = namespace
        self._fast_prefix = f"{_EVENT}{namespace},"
        self._fast_events: dict[str, FastEvent] = {}
        # Only the in-process manager knows every member of a room; with a message queue, emit() must publish.
        self.local_rooms = type(self.manager) is socketio.AsyncManager

    def on_fast(self, event: str, handler: FastEvent) -> None:
        self._fast_events[event] = handler

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> Any:
        socket = self.eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket:
            socket.__class__ = LeanWebSocket
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if data.__class__ is str and data.startswith(self._fast_prefix) and eio_sid not in self._binary_packet:
            if await self._handle_fast(eio_sid, data):
                return
        await super()._handle_eio_message(eio_sid, data)

    async def _handle_fast(self, eio_sid: str, frame: str) -> bool:
        start = len(self._fast_prefix)
        body = frame.find("[", start)
        ack_id = frame[start:body]
        if body < 0 or (ack_id and not ack_id.isdigit()):
            return False
        quote = frame.find('"', body + 2)
        handler = self._fast_events.get(frame[body + 2:quote]) if frame.startswith('["', body) else None
        sid = self.manager.sid_from_eio_sid(eio_sid, self._fast_namespace)
        if handler is None or sid is None:
            return False
        try:
            args = orjson.loads(frame[body:])
        except orjson.JSONDecodeError:
            return False  # the library's parser reports it as it always did
        if not isinstance(args, list) or len(args) > 2:
            reply: dict[str, Any] = {"ok": False, "error": "invalid", "message": "an event carries one payload object"}
        else:
            reply = await handler(sid, args[1] if len(args) == 2 else None, len(frame.encode()))
        if ack_id:
            push_text(self.eio, eio_sid, f"{_ACK}{self._fast_namespace},{ack_id}{orjson.dumps([reply]).decode()}")
        return True

    async def emit_fast(self, event: str, data: Any, room: str) -> None:
        """``emit(event, data, to=room)`` in the fast namespace: one frame encoded once and queued on each local
        member's socket; through the message queue (``emit``) when rooms span processes."""
        if not self.local_rooms:
            await self.emit(event, data, to=room, namespace=self._fast_namespace)
            return
        frame = encode_event(self._fast_namespace, event, data)
        for _, eio_sid in list(self.manager.get_participants(self._fast_namespace, room)):
            push_text(self.eio, eio_sid, frame)


class _TextFrame(eio_packet.Packet):
    """An Engine.IO message whose encoding is known up front (no type sniffing, no JSON)."""

    def __init__(self, text: str) -> None:  # noqa: D107 - deliberately skips Packet.__init__
        self.packet_type = eio_packet.MESSAGE
        self.data = text
        self.binary = False
        self.encode_cache = "4" + text


def push_text(eio_server: Any, eio_sid: str, text: str) -> None:
    """Queue a text message for one Engine.IO socket, as ``eio.send`` does minus its per-call checks (the
    server's monitor task closes sockets whose client stopped answering pings)."""
    socket = eio_server.sockets.get(eio_sid)
    if socket is not None and not socket.closed and not socket.closing:
        socket.queue.put_nowait(_TextFrame(text))


class LeanWebSocket(AsyncSocket):
    """python-engineio's socket with a WebSocket loop that creates no task and no timer per frame."""

    _last_frame = 0.0
    _idle_handle: asyncio.TimerHandle | None = None

    async def receive(self, pkt: Any) -> None:
        if pkt.packet_type != eio_packet.MESSAGE:
            return await super().receive(pkt)
        await self._dispatch(pkt.data)
        return None

    async def _dispatch(self, data: Any) -> None:
        try:
            await self.server.handlers["message"](self.sid, data)
        except Exception:
            logger.exception("message handler error")

    async def _websocket_handler(self, ws: Any) -> Any:
        if self.connected:
            # An upgrade from polling: the library's own handshake, then its loop (rare, once per connection).
            return await super()._websocket_handler(ws)
        self.connected = True
        self.upgraded = True
        writer_task = asyncio.ensure_future(self._write_loop(ws))
        try:
            await self._read_loop(ws)
        finally:
            # aiohttp cancels this handler when the peer's connection drops, at any await: the writer must still
            # finish and the disconnect handlers (presence) must still run, or engine.io keeps the socket.
            self.queue.put_nowait(None)  # unlock the writer so it can exit
            await _despite_cancellation(writer_task)
            await _despite_cancellation(
                self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE))

    async def _read_loop(self, ws: Any) -> None:
        loop = asyncio.get_running_loop()
        limit = self.server.max_http_buffer_size
        idle = self.server.ping_interval + self.server.ping_timeout
        self._last_frame = loop.time()
        try:
            # One deadline for the whole loop, pushed back lazily by a watchdog: a frame costs a float store.
            async with asyncio.timeout(None) as deadline:
                self._idle_handle = loop.call_later(idle, self._check_idle, loop, idle, deadline)
                while True:
                    data = await ws.wait()
                    self._last_frame = loop.time()
                    if data is None or len(data) > limit:
                        return  # closed by the client, or a frame over the limit (the library closes too)
                    if data.__class__ is str and data[:1] == "4":
                        await self._dispatch(data[1:])
                        continue
                    try:
                        await self.receive(eio_packet.Packet(encoded_packet=data))
                    except eio_exceptions.UnknownPacketError:
                        pass
                    except eio_exceptions.SocketIsClosedError:
                        return
        except (TimeoutError, OSError):
            return  # idle past ping interval + timeout, or the driver saw a close/error frame
        except asyncio.CancelledError:
            return  # the peer's connection dropped (aiohttp cancels the handler); the library ends its loop too
        except Exception:
            logger.exception("engine.io receive error")
        finally:
            if self._idle_handle is not None:
                self._idle_handle.cancel()

    def _check_idle(self, loop: asyncio.AbstractEventLoop, idle: float, deadline: asyncio.Timeout) -> None:
        quiet = loop.time() - self._last_frame
        if quiet >= idle:
            deadline.reschedule(loop.time())
        else:
            self._idle_handle = loop.call_later(idle - quiet, self._check_idle, loop, idle, deadline)

    async def _write_loop(self, ws: Any) -> None:
        # The aiohttp driver's send() inspects its target on every call; write to the response directly.
        send_str = getattr(getattr(ws, "_sock", None), "send_str", None)
        queue = self.queue
        while True:
            pkt = await queue.get()
            queue.task_done()
            if pkt is None:
                break
            frame = pkt.encode()
            try:
                if send_str is not None and frame.__class__ is str:
                    await send_str(frame)
                else:
                    await ws.send(frame)
            except Exception:
                break
        await ws.close()


async def _despite_cancellation(awaitable: Awaitable[Any]) -> None:
    """Await to the end even if the awaiting task is cancelled meanwhile (the cancellation is absorbed, as
    python-engineio's own loop absorbs it)."""
    task = asyncio.ensure_future(awaitable)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
    if not task.cancelled() and task.exception() is not None:
        logger.error("engine.io socket release failed", exc_info=task.exception())
