"""The ``/call`` socket.io namespace: connection auth, per-event validation, rate limits and relay.

Rooms (all keyed by durable ids): ``c:<consultation>`` every connected member, ``staff:<consultation>`` the
professionals who see the waiting room, ``call:<consultation>`` members in the call, ``p:<participant>`` one member
(wherever its socket lives), ``s:<session>`` every socket of one login session (the host closes them when it
ends). With a message-queue client manager these rooms span server processes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import socketio

from . import messages
from .errors import Denied, RateLimited, SignalingError, WrongState
from .fastpath import FastSocketServer
from .messages import Limits
from .ports import CallAuthority, Caller, MediaRelay, Member
from .ratelimit import TokenBuckets

__all__ = ["CallSignaling", "NAMESPACE"]

logger = logging.getLogger(__name__)

NAMESPACE = "/call"
Ack = dict[str, Any]
# Ending one's part of a call is never rate-limited: a peer that flooded must still be able to hang up.
_ALWAYS_ALLOWED = frozenset({"leave"})


@dataclass
class _Connection:
    caller: Caller
    member: Member | None = None

    @property
    def rate_key(self) -> str:
        """The signaling rate limit's key: the durable participant once joined, the session before, so
        neither a reconnect nor a second socket starts with a fresh bucket."""
        if self.member is not None:
            return f"participant:{self.member.participant_id}"
        return f"session:{self.caller.ref}"


class CallSignaling:
    """Owns the socket.io server for calls. Attach it to an aiohttp app with :meth:`attach`.

    :param authority: the host's rules (who may join, admit, signal).
    :param origins: exact allowed origins (``*`` is refused).
    :param limits: event size and rate limits.
    :param client_manager: e.g. ``socketio.AsyncRedisManager(url)`` to span several processes.
    :param relay: server-side media for pairs that cannot go peer to peer (``relay-*`` events); without it
        those events are refused with ``conflict``.
    :param clock: seconds, for the rate limits (the host passes its own clock so tests can drive it).
    """

    def __init__(
        self,
        authority: CallAuthority,
        *,
        origins: Iterable[str],
        limits: Limits | None = None,
        client_manager: socketio.AsyncManager | None = None,
        ping_interval: float = 10,
        ping_timeout: float = 10,
        relay: MediaRelay | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        allowed = list(origins)
        if "*" in allowed:
            raise ValueError("a wildcard origin is not allowed")
        self.limits = limits or Limits()
        self._authority = authority
        self._relay = relay
        self._connections: dict[str, _Connection] = {}
        rate = self.limits.signal_events_per_s
        self._event_buckets = TokenBuckets(rate, 2.0 * rate, clock)
        self._closing: set[asyncio.Future[None]] = set()
        self.sio = FastSocketServer(
            NAMESPACE,
            connect_limiter=TokenBuckets(self.limits.connects_per_s, self.limits.connect_burst, clock),
            max_attachments=0,  # the pages send JSON only; binary packets would only be held in memory
            async_mode="aiohttp",
            # The pages use WebSocket only. Long-polling is refused at once rather than served: an oversized
            # polling POST is never answered by python-engineio 4.15 and then holds up shutdown.
            transports=["websocket"],
            cors_allowed_origins=allowed,
            client_manager=client_manager,
            # One connection's events run in order (an offer must not be overtaken by its candidates).
            async_handlers=False,
            # Frames up to twice the event limit get a clear error ack; larger ones close the connection
            # before the payload is buffered (python-engineio enforces it while reading).
            max_http_buffer_size=2 * self.limits.max_event_bytes,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        self._register()

    def attach(self, app: Any) -> None:
        self.sio.attach(app)

    async def close(self, timeout: float = 3.0) -> None:
        """Close every client connection at once (pages reconnect: to another process, or to this server once
        restarted) and stop the background tasks, so the web server's shutdown has nothing left to wait for."""
        await self.sio.close_all(timeout)
        await self.sio.shutdown()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def consultation_ended(self, consultation_id: str) -> None:
        """Tell everyone in the consultation it is over and empty its rooms (in every process)."""
        if self._relay is not None:
            await self._relay.end(consultation_id)
        await self.sio.emit("ended", {}, to=f"c:{consultation_id}", namespace=NAMESPACE)
        for prefix in ("call", "staff", "c"):
            await self.sio.close_room(f"{prefix}:{consultation_id}", namespace=NAMESPACE)

    async def participant_removed(self, consultation_id: str, participant_id: str) -> None:
        """Tell a removed participant so (its sockets are closed next by the host) and the others it left."""
        # Its relay peers go when its sockets close (``_disconnect``).
        await self.sio.emit("removed", {}, to=f"p:{participant_id}", namespace=NAMESPACE)
        await self.sio.emit("peer-left", {"id": participant_id}, to=f"call:{consultation_id}", namespace=NAMESPACE)
        await self._push_waiting_room(consultation_id)

    # -- registration ----------------------------------------------------------------------------------------
    def _register(self) -> None:
        handlers: dict[str, Callable[[str, _Connection, Any], Awaitable[Ack]]] = {
            "join": self._join,
            "ready": self._ready,
            "admit": self._admit,
            "enter": self._enter,
            "signal": self._signal,
            "chat": self._chat,
            "leave": self._leave,
            "relay-publish": self._relay_publish,
            "relay-subscribe": self._relay_subscribe,
        }
        self.sio.on("connect", self._connect, namespace=NAMESPACE)
        self.sio.on("disconnect", self._disconnect, namespace=NAMESPACE)
        for event, handler in handlers.items():
            self.sio.on(event, self._guarded(event, handler), namespace=NAMESPACE)
        # Any other name, including "connect" and "disconnect" sent as events, is refused by the server itself.
        # The relay itself skips python-socketio's packet layer (fastpath.py); same checks, same acks.
        self.sio.on_fast("signal", functools.partial(self._run, "signal", self._signal))

    def _guarded(
        self, event: str, handler: Callable[[str, _Connection, Any], Awaitable[Ack]]
    ) -> Callable[..., Awaitable[Ack]]:
        async def run(sid: str, *args: Any) -> Ack:
            if len(args) > 1:
                return _error("invalid", "an event carries one payload object")
            payload = args[0] if args else None
            return await self._run(event, handler, sid, payload, None)

        return run

    async def _run(self, event: str, handler: Callable[[str, _Connection, Any], Awaitable[Ack]], sid: str,
                   payload: Any, frame_bytes: int | None) -> Ack:
        connection = self._connections.get(sid)
        if connection is None:
            return _error("forbidden", "not connected")
        if not await self._authority.session_live(connection.caller):
            return self._session_ended(sid)
        try:
            # A frame within the limit bounds its payload from above: only larger ones need measuring.
            if frame_bytes is None or frame_bytes > self.limits.max_event_bytes:
                messages.check_size(payload, self.limits)
            self._take_token(event, connection)
            result = await handler(sid, connection, payload)
            return {"ok": True, **result}
        except SignalingError as exc:
            logger.info("event %s refused for %s: %s", event, sid, exc.code)
            return _error(exc.code, exc.message)
        except Exception:
            logger.exception("event %s failed for %s", event, sid)
            return _error("internal", "the server could not handle this event")

    def _session_ended(self, sid: str) -> Ack:
        """Refuse the event, then close the socket: the task runs once this acknowledgement is queued (the
        disconnect handler then takes the member offline as for any other departure)."""
        task = asyncio.ensure_future(self.sio.disconnect(sid, namespace=NAMESPACE))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return _error("unauthorized", "your session has ended; sign in again")

    def _take_token(self, event: str, connection: _Connection) -> None:
        if event not in _ALWAYS_ALLOWED and not self._event_buckets.take(connection.rate_key):
            raise RateLimited("too many events; slow down")

    # -- connection ------------------------------------------------------------------------------------------
    async def _connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        caller = await self._authority.authenticate(environ)
        if caller is None:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        self._connections[sid] = _Connection(caller)
        if caller.session:
            await self.sio.enter_room(sid, f"s:{caller.session}", namespace=NAMESPACE)

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        connection = self._connections.pop(sid, None)
        if connection is None or connection.member is None:
            return
        member = connection.member
        try:
            if self._relay is not None:
                await self._relay.release(member, sid)
        except Exception:
            logger.exception("relay release failed for %s", member.participant_id)
        try:
            await self._authority.presence(member, False, sid)
            await self._push_waiting_room(member.consultation_id)
        except Exception:
            logger.exception("presence update failed for %s", member.participant_id)

    # -- events ----------------------------------------------------------------------------------------------
    async def _join(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        message = messages.parse_join(payload)
        outcome = await self._authority.join(connection.caller, message.consultation_id, message.instance)
        member = outcome.member
        if connection.member is not None and connection.member.participant_id != member.participant_id:
            raise WrongState("this connection already joined another consultation")
        connection.member = member
        if outcome.replaced and outcome.replaced != sid:
            await self._displace(outcome.replaced, member)
        await self.sio.enter_room(sid, f"c:{member.consultation_id}", namespace=NAMESPACE)
        await self.sio.enter_room(sid, f"p:{member.participant_id}", namespace=NAMESPACE)
        if member.staff:
            await self.sio.enter_room(sid, f"staff:{member.consultation_id}", namespace=NAMESPACE)
        await self._authority.presence(member, True, sid)
        await self._push_waiting_room(member.consultation_id)
        return {"me": member.participant_id, "kind": member.kind, "state": member.state,
                "staff": member.staff, **outcome.extra}

    async def _displace(self, old_sid: str, member: Member) -> None:
        """One device per member: the previous socket (any process) is told and closed, the call and staff told."""
        cid = member.consultation_id
        await self.sio.emit("replaced", {}, to=old_sid, namespace=NAMESPACE)
        await self.sio.disconnect(old_sid, namespace=NAMESPACE)
        await self.sio.emit("peer-left", {"id": member.participant_id}, to=f"call:{cid}", namespace=NAMESPACE)
        await self.sio.emit("second-device", member.public(), to=f"staff:{cid}", namespace=NAMESPACE)

    async def _ready(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        messages.empty(payload)
        member = await self._authority.ready(_member(connection))
        connection.member = member
        await self._push_waiting_room(member.consultation_id)
        return {"state": member.state}

    async def _admit(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        target = messages.parse_admit(payload)
        member = _member(connection)
        if not member.staff:
            raise Denied("only the consultation's professional can admit")
        admitted = await self._authority.admit(member, target)
        await self.sio.emit("admitted", {}, to=f"p:{admitted.participant_id}", namespace=NAMESPACE)
        await self._push_waiting_room(member.consultation_id)
        return {}

    async def _enter(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        messages.empty(payload)
        member, others = await self._authority.enter(_member(connection))
        connection.member = member
        await self.sio.enter_room(sid, f"call:{member.consultation_id}", namespace=NAMESPACE)
        await self.sio.emit("peer-joined", member.public(), to=f"call:{member.consultation_id}",
                            skip_sid=sid, namespace=NAMESPACE)
        await self._push_waiting_room(member.consultation_id)
        chat = await self._authority.chat_so_far(member)
        return {"peers": [other.public() for other in others], "chat": chat}

    async def _signal(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        message = messages.parse_signal(payload, self.limits)
        member = _member(connection)
        online = await self._authority.signal_route(member, message.to)
        if online is None:
            raise Denied("you cannot signal this participant")
        await self.sio.emit_fast("signal", {"from": member.participant_id, "data": message.data}, f"p:{message.to}")
        return {"delivered": online}

    async def _chat(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        text = messages.parse_chat(payload, self.limits)
        member = _member(connection)
        sent = await self._authority.chat(member, text)
        cid = member.consultation_id
        await self.sio.emit("chat", sent, to=[f"call:{cid}", f"staff:{cid}"], namespace=NAMESPACE)
        return {"id": sent.get("id")}

    async def _leave(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        messages.empty(payload)
        member = _member(connection)
        if self._relay is not None:
            await self._relay.release(member, None)
        await self._authority.leave(member)
        await self.sio.leave_room(sid, f"call:{member.consultation_id}", namespace=NAMESPACE)
        await self.sio.emit("peer-left", {"id": member.participant_id}, to=f"call:{member.consultation_id}",
                            namespace=NAMESPACE)
        await self._push_waiting_room(member.consultation_id)
        return {}

    async def _relay_publish(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        message = messages.parse_relay(payload, self.limits)
        member = _member(connection)
        answer = await self._require_relay().publish(member, message.peer, message.sdp, sid)
        # The other side switches this pair to the relay too (if it has not already) and subscribes.
        await self.sio.emit("relay-published", {"from": member.participant_id}, to=f"p:{message.peer}",
                            namespace=NAMESPACE)
        return {"sdp": answer}

    async def _relay_subscribe(self, sid: str, connection: _Connection, payload: Any) -> Ack:
        message = messages.parse_relay(payload, self.limits)
        answer = await self._require_relay().subscribe(_member(connection), message.peer, message.sdp, sid)
        return {"sdp": answer}

    def _require_relay(self) -> MediaRelay:
        if self._relay is None:
            raise WrongState("this server does not relay media")
        return self._relay

    async def _push_waiting_room(self, consultation_id: str) -> None:
        participants = await self._authority.waiting_room(consultation_id)
        await self.sio.emit("waiting-room", {"participants": participants}, to=f"staff:{consultation_id}",
                            namespace=NAMESPACE)


def _member(connection: _Connection) -> Member:
    if connection.member is None:
        raise WrongState("join first")
    return connection.member


def _error(code: str, message: str) -> Ack:
    return {"ok": False, "error": code, "message": message}
