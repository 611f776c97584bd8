"""A direct path for the hottest socket.io event, below python-socketio's packet layer.

A call's signaling is mostly ``signal`` events (an offer, an answer, a few dozen ICE candidates, restarts). Through
python-socketio's public API each one is decoded into a ``Packet``, scanned twice for binary attachments, dispatched
through ``_handle_event``/``_trigger_event``, re-encoded with the standard ``json`` module for the room lookup of
``emit`` and again for the acknowledgement: about 270 µs of one core per relayed message on these machines, against
30 µs for a bare aiohttp WebSocket relay (docs/benchmarks.md). This module keeps python-socketio for everything
(connection, rooms, every other event, the Redis manager) but reads every client text packet with a JSON body
itself, once, with orjson: the events the host registers with :meth:`FastSocketServer.on_fast` (frames
``2/call,<ack id>["<event>",<payload>]``) go straight to the host's coroutine and their frames are queued as
ready-encoded text on the Engine.IO sockets; the rest go on to the library's handlers, already checked (nesting,
valid Unicode, registered event names; see the class).

Below that, python-engineio's WebSocket loop creates two tasks and two ``wait_for`` timers per frame (the reader
wraps every ``ws.wait()`` in a task, the writer every ``queue.get()``). :class:`LeanWebSocket` is the same loop with
one deadline per connection pushed back lazily by a watchdog, frames written straight to the aiohttp response, and
the message event dispatched without ``_trigger_event``'s per-call coroutine inspection; every socket of this
server gets it as soon as the Engine.IO connection exists, before the WebSocket upgrade starts. Polling, upgrades,
pings and closing are the library's.

Private surface used (versions pinned in pyproject.toml, covered by tests/signaling/test_fastpath.py):
``socketio.AsyncServer._handle_eio_message`` / ``_handle_eio_connect`` / ``_handle_eio_disconnect`` /
``_handle_connect`` / ``_handle_event`` / ``_handle_ack`` / ``_send_packet`` / ``_binary_packet``, the manager's
``sid_from_eio_sid`` / ``get_participants``, ``engineio.AsyncServer.sockets``, the
``engineio.async_socket.AsyncSocket`` attributes the loop reads (``queue``, ``closed``, ``closing``, ``server``) and
the aiohttp driver's ``_sock``; the socket.io v5 text encoding (type digit,
``/namespace,``, ack id, JSON array).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

import orjson
import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from .errors import InvalidMessage
from .messages import MAX_NESTING, check_structure
from .ratelimit import TokenBuckets

logger = logging.getLogger(__name__)

__all__ = ["FastEvent", "FastSocketServer", "RESERVED_EVENTS", "encode_event", "peer_address"]

# (socket id, payload, size of the frame in bytes) -> acknowledgement
FastEvent = Callable[[str, Any, int], Awaitable[dict[str, Any]]]

_CONNECT, _EVENT, _ACK, _BINARY_EVENT, _BINARY_ACK = "0", "2", "3", "5", "6"
_CHECKED = frozenset({_CONNECT, _EVENT, _ACK, _BINARY_EVENT, _BINARY_ACK})  # the packets with a JSON body
# <type>[<attachments>-][/<namespace>[,]][<ack id>]; groups 3 and 6 catch what the library refuses (too many digits).
_HEADER = re.compile(r"([0-9])(?:(\d{1,10})-|(\d{11,})-)?(?:(/[^,]*),?)?(\d{0,100})(\d?)", re.ASCII)
# How long a connection over its address's limit may stay open waiting to send its namespace connect.
_REFUSED_GRACE_S = 2.0
# socket.io's own lifecycle names and python-socketio's catch-all: never a client's event.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "*"})


def encode_event(namespace: str, event: str, data: Any) -> str:
    """The socket.io text frame of an event without acknowledgement (what ``emit`` would send)."""
    return f"{_EVENT}{namespace},{orjson.dumps([event, data]).decode()}"


class FastSocketServer(socketio.AsyncServer):  # type: ignore[misc]  # python-socketio ships no types
    """``socketio.AsyncServer`` that checks every client packet once and routes registered text events of one
    namespace straight to a coroutine.

    Every text packet a client may send with a JSON body (connect, event, ack, binary headers) is decoded here with
    orjson before the library sees it: nesting deeper than ``messages.MAX_NESTING`` and lone UTF-16 surrogates
    are answered ``invalid`` (naming the field) instead of reaching a handler or the standard ``json`` module's
    recursion. Only event names the host registered run: ``connect``, ``disconnect``, ``connect_error``, ``*``
    and anything unregistered are answered ``unknown_event`` (a client naming its event ``disconnect`` must not
    run the server's own disconnect handler).

    :param connect_limiter: per client address, one token per Engine.IO connection; an address over its limit
        gets a ``connect_error`` saying so on its namespace connect, and the connection is closed.
    :param max_attachments: binary attachments one packet may announce (``None``: the library's own bound).
    """

    def __init__(self, namespace: str, *, connect_limiter: TokenBuckets | None = None,
                 max_attachments: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_namespace = namespace
        self._fast_events: dict[str, FastEvent] = {}
        self._connect_limiter = connect_limiter
        self._max_attachments = max_attachments
        self._over_limit: dict[str, float] = {}  # Engine.IO sid -> seconds its address must wait
        # Only the in-process manager knows every member of a room; with a message queue, emit() must publish.
        self.local_rooms = type(self.manager) is socketio.AsyncManager

    def on_fast(self, event: str, handler: FastEvent) -> None:
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        self._fast_events[event] = handler

    def registered(self, namespace: str, event: Any) -> bool:
        """Whether a client event of that name runs a handler the host registered for it."""
        if event.__class__ is not str or event in RESERVED_EVENTS:
            return False
        if namespace == self._fast_namespace and event in self._fast_events:
            return True
        if event in self.handlers.get(namespace, ()):
            return True
        handler = self.namespace_handlers.get(namespace)
        return handler is not None and callable(getattr(handler, f"on_{event}", None))

    # -- connections -----------------------------------------------------------------------------------------
    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> Any:
        socket = self.eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket:
            socket.__class__ = LeanWebSocket
        if self._connect_limiter is not None:
            address = peer_address(environ)
            if not self._connect_limiter.take(address):
                self._over_limit[eio_sid] = self._connect_limiter.retry_after(address)
                # It is told why on its namespace connect; one that never asks is let go all the same.
                asyncio.get_running_loop().call_later(_REFUSED_GRACE_S, self._drop, eio_sid)
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._over_limit.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _handle_connect(self, eio_sid: str, namespace: Any, data: Any) -> None:
        wait = self._over_limit.get(eio_sid)
        if wait is None:
            await super()._handle_connect(eio_sid, namespace, data)
            return
        logger.info("connection refused: too many connections from one address")
        message = "too many connections from your address; try again in a few seconds"
        await self._send_packet(eio_sid, self.packet_class(
            sio_packet.CONNECT_ERROR, namespace=namespace or "/",
            data={"message": message, "data": {"error": "rate_limited", "retryAfter": wait}}))
        await self._close(eio_sid)

    def _drop(self, eio_sid: str) -> None:
        if eio_sid in self._over_limit:
            self.start_background_task(self._close, eio_sid)

    async def _close(self, eio_sid: str) -> None:
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None:
            await _close_socket(socket, self.eio.reason.SERVER_DISCONNECT)

    # -- client packets --------------------------------------------------------------------------------------
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._binary_packet:
            await super()._handle_eio_message(eio_sid, data)  # an attachment the last packet announced
        elif data.__class__ is not str:
            logger.info("binary message no packet announced, dropped")  # the library cannot decode it
        elif data[:1] in _CHECKED:
            await self._handle_checked(eio_sid, data)
        else:
            await super()._handle_eio_message(eio_sid, data)

    async def _handle_checked(self, eio_sid: str, text: str) -> None:
        frame = split_frame(text)
        if frame is None:
            await super()._handle_eio_message(eio_sid, text)  # the library reports it as it always did
            return
        if frame.attachments and self._max_attachments is not None and frame.attachments > self._max_attachments:
            await self._refuse(eio_sid, frame, "invalid", "binary payloads are not accepted here")
            return  # its attachments, if they come, are dropped as unannounced
        try:
            body = decode_body(text[frame.body:]) if frame.body < len(text) else None
        except InvalidMessage as exc:
            await self._refuse(eio_sid, frame, exc.code, exc.message)
            return
        if frame.kind == _EVENT:
            await self._handle_text_event(eio_sid, frame, body, len(text.encode()))
        elif frame.kind == _CONNECT:
            await self._handle_connect(eio_sid, frame.namespace, body)
        elif frame.kind == _ACK:
            await self._handle_ack(eio_sid, frame.namespace, frame.ack_id, body)
        else:  # a binary event or ack header: the library keeps it until its attachments arrive
            await super()._handle_eio_message(eio_sid, text)

    async def _handle_text_event(self, eio_sid: str, frame: Frame, args: Any, frame_bytes: int) -> None:
        if not isinstance(args, list) or not args or args[0].__class__ is not str:
            await self._refuse(eio_sid, frame, "invalid", "an event is a name followed by one payload")
            return
        namespace = frame.namespace or "/"
        handler = self._fast_events.get(args[0]) if namespace == self._fast_namespace else None
        if handler is None:
            await self._handle_event(eio_sid, frame.namespace, frame.ack_id, args)
            return
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None:
            return  # not connected to this namespace: ignored, as the library does
        if len(args) > 2:
            reply: dict[str, Any] = {"ok": False, "error": "invalid", "message": "an event carries one payload object"}
        else:
            reply = await handler(sid, args[1] if len(args) == 2 else None, frame_bytes)
        if frame.ack_id is not None:
            push_text(self.eio, eio_sid, _ack_frame(namespace, frame.ack_id, reply))

    async def _handle_event(self, eio_sid: str, namespace: Any, id: Any, data: Any) -> None:
        # Every event, text or binary, passes here before the library looks its handler up.
        name = data[0] if isinstance(data, list) and data else None
        if self.registered(namespace or "/", name):
            await super()._handle_event(eio_sid, namespace, id, data)
            return
        logger.info("unregistered or reserved event refused")
        await self._refuse(eio_sid, Frame(_EVENT, namespace, id, 0, 0), "unknown_event", "unknown event")

    async def _refuse(self, eio_sid: str, frame: Frame, code: str, message: str) -> None:
        """Answer a packet that runs no handler: an error ack for an event that asked for one, a connect_error
        for a connect; the connection itself keeps serving."""
        namespace = frame.namespace or "/"
        logger.info("packet refused (%s): %s", code, message)
        if frame.kind == _CONNECT:
            await self._send_packet(eio_sid, self.packet_class(
                sio_packet.CONNECT_ERROR, namespace=namespace, data={"message": message, "data": {"error": code}}))
        elif frame.kind in (_EVENT, _BINARY_EVENT) and frame.ack_id is not None \
                and self.manager.sid_from_eio_sid(eio_sid, namespace) is not None:
            push_text(self.eio, eio_sid, _ack_frame(namespace, frame.ack_id,
                                                    {"ok": False, "error": code, "message": message}))

    async def close_all(self, timeout: float) -> None:
        """Close every client connection now: disconnect handlers run, each client gets a CLOSE packet, then its
        WebSocket is closed. Handlers still running after ``timeout`` are left to the web server's shutdown."""
        sockets = list(self.eio.sockets.values())
        if not sockets:
            return
        reason = self.eio.reason.SERVER_DISCONNECT
        closing = [asyncio.ensure_future(_close_socket(socket, reason)) for socket in sockets]
        _, late = await asyncio.wait(closing, timeout=timeout)
        for socket in sockets:
            if late and isinstance(socket, LeanWebSocket):
                socket.queue.put_nowait(None)  # its writer closes the WebSocket even if a handler still runs

    async def emit_fast(self, event: str, data: Any, room: str) -> None:
        """``emit(event, data, to=room)`` in the fast namespace: one frame encoded once and queued on each local
        member's socket; through the message queue (``emit``) when rooms span processes."""
        if not self.local_rooms:
            await self.emit(event, data, to=room, namespace=self._fast_namespace)
            return
        frame = encode_event(self._fast_namespace, event, data)
        for _, eio_sid in list(self.manager.get_participants(self._fast_namespace, room)):
            push_text(self.eio, eio_sid, frame)


class Frame(NamedTuple):
    """The header of a socket.io v5 text packet: ``<type>[<attachments>-][<namespace>,][<ack id>]<json>``
    (a tuple: built for every client packet, and a frozen dataclass costs four times as much)."""

    kind: str
    namespace: str | None
    ack_id: int | None
    attachments: int
    body: int  # where the JSON starts


def split_frame(text: str) -> Frame | None:
    """Parse the header the way python-socketio's ``Packet.decode`` does; ``None`` when it would refuse it."""
    match = _HEADER.match(text)
    if match is None or match.group(3) or match.group(6):
        return None  # over ten attachment digits, or an id over 100 digits: the library refuses it first
    attachments, namespace, ack_id = match.group(2), match.group(4), match.group(5)
    return Frame(text[0], namespace.partition("?")[0] if namespace is not None else None,
                 int(ack_id) if ack_id else None, int(attachments) if attachments else 0, match.end(5))


def decode_body(body: str) -> Any:
    """The JSON of a packet, refused with :class:`InvalidMessage` when too deep or not valid Unicode."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise InvalidMessage(f"payload is nested more than {MAX_NESTING} levels deep") from None
        _explain(body)
        raise InvalidMessage("payload is not valid JSON") from None
    if body.count("[") + body.count("{") > MAX_NESTING:  # only then can it be too deep
        _check_args(value)
    return value


def _explain(body: str) -> None:
    """orjson refused it: the standard parser, which accepts lone surrogates, finds the field to name."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return
    _check_args(value)


def _check_args(value: Any) -> None:
    if isinstance(value, list) and value and isinstance(value[0], str):  # [event name, payload...]
        check_structure(value[0], "event name")
        for payload in value[1:]:
            check_structure(payload)
    else:
        check_structure(value)


def _ack_frame(namespace: str, ack_id: int, reply: Any) -> str:
    prefix = "" if namespace == "/" else f"{namespace},"
    return f"{_ACK}{prefix}{ack_id}{orjson.dumps([reply]).decode()}"


def peer_address(environ: Mapping[str, Any]) -> str:
    """The client's address as the TCP connection has it (aiohttp's ``request.remote``; the driver's
    ``REMOTE_ADDR`` is always 127.0.0.1), an IPv6 one as its /64 (one subscriber's whole network). Behind a reverse
    proxy that is the proxy's address: trusting ``X-Forwarded-For`` is left for when a proxy is configured."""
    request = environ.get("aiohttp.request")
    remote = str(getattr(request, "remote", None) or environ.get("REMOTE_ADDR") or "unknown")
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if not isinstance(address, ipaddress.IPv6Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class _TextFrame(eio_packet.Packet):  # type: ignore[misc]  # python-engineio ships no types
    """An Engine.IO message whose encoding is known up front (no type sniffing, no JSON)."""

    def __init__(self, text: str) -> None:
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


class LeanWebSocket(AsyncSocket):  # type: ignore[misc]  # python-engineio ships no types
    """python-engineio's socket with a WebSocket loop that creates no task and no timer per frame."""

    # Set by python-engineio's BaseSocket.__init__; declared here (annotations only) because the library is untyped.
    last_ping: float | None
    connected: bool
    upgraded: bool
    _last_frame = 0.0
    _idle_handle: asyncio.TimerHandle | None = None
    _ping_task: asyncio.Future[Any] | None = None

    def schedule_ping(self) -> None:
        # The library's, keeping the task so a closed socket does not leave it asleep for a ping interval.
        if self.last_ping:
            self.last_ping = None
            self._ping_task = self.server.start_background_task(self._send_ping)

    async def receive(self, pkt: Any) -> None:
        if pkt.packet_type != eio_packet.MESSAGE:
            await super().receive(pkt)
            return
        await self._dispatch(pkt.data)

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
            if self._ping_task is not None:
                self._ping_task.cancel()

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


async def _close_socket(socket: AsyncSocket, reason: Any) -> None:
    await socket.close(wait=False, reason=reason)
    if isinstance(socket, LeanWebSocket):
        socket.queue.put_nowait(None)  # after the CLOSE packet: the writer then closes the WebSocket


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
