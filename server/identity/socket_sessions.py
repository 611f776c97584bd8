"""Open sockets are held to the web session they were opened with: when it ends, they are refused and closed.

A session ends by logout, account deactivation, expiry (the app clock), consultation end (patients and guests) or
removal. Three mechanisms, each covering the others' blind spots:

* every socket event asks :meth:`SocketSessions.is_live`: answered from memory when the session was confirmed less
  than ``max_age_s`` ago and has not expired since, otherwise re-read from the database;
* :meth:`SocketSessions.end` (logout, deactivation, consultation end) closes this process's sockets of those sessions
  at once and publishes a notice (``session_bus.py``) so that the other processes close theirs at once too (a
  consultation's end also reaches the callbacks of :meth:`SocketSessions.on_consultation_ended` in every process,
  e.g. to forget cached signaling routes);
* a sweep every ``sweep_s`` re-reads, in one batch, every session that has a socket in this process and closes the
  sockets of those that ended: expiry has no event, and a notice may be missing (no Redis, a command-line
  deactivation, a lost message).

Every socket of a session is in the room ``s:<session hash>`` of its namespace (``/call``: signaling's connect
handler; ``/expertise``: ``server/expertise/realtime.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..platform.clock import Clock
from .session_bus import Notice, SessionBus
from .sessions import WebSessions

__all__ = ["SocketSessions", "session_room"]

logger = logging.getLogger(__name__)

SWEEP_S = 0.5
MAX_AGE_S = 1.0
_BUS_RETRY_S = 2.0


def session_room(session_hash: str) -> str:
    return f"s:{session_hash}"


@dataclass(frozen=True)
class _Confirmed:
    expires_at: datetime
    at: float  # monotonic time of the database read


class SocketSessions:
    def __init__(self, web_sessions: WebSessions, clock: Clock, *, bus: SessionBus | None = None,
                 sweep_s: float | None = None, max_age_s: float = MAX_AGE_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._web_sessions = web_sessions
        self._clock = clock
        self._bus = bus
        self._sweep_s = SWEEP_S if sweep_s is None else sweep_s
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._confirmed: dict[str, _Confirmed] = {}
        self._sio: Any = None
        self._namespaces: tuple[str, ...] = ()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._consultation_callbacks: list[Callable[[str], None]] = []
        self._sweep_lock = asyncio.Lock()

    def bind(self, sio: Any, namespaces: Iterable[str]) -> None:
        """The socket.io server whose sockets (in these namespaces) this guards."""
        self._sio = sio
        self._namespaces = tuple(namespaces)

    async def is_live(self, session_hash: str) -> bool:
        confirmed = self._confirmed.get(session_hash)
        if (confirmed is not None and self._monotonic() - confirmed.at < self._max_age_s
                and confirmed.expires_at > self._clock.now()):
            return True
        found = await self._web_sessions.live([session_hash])
        if session_hash not in found:
            self._confirmed.pop(session_hash, None)
            return False
        self._confirmed[session_hash] = _Confirmed(found[session_hash], self._monotonic())
        return True

    def on_consultation_ended(self, callback: Callable[[str], None]) -> None:
        self._consultation_callbacks.append(callback)

    async def end(self, session_hashes: Iterable[str], *, consultation: str | None = None) -> None:
        """These sessions were just revoked (and this consultation ended): close their sockets here and tell the
        other processes."""
        notice = Notice(list(session_hashes), [consultation] if consultation else [])
        await self._apply(notice)
        if self._bus is not None:
            try:
                await self._bus.publish(notice.sessions, notice.consultations)
            except Exception:  # the other processes' sweeps still close them within a second
                logger.exception("could not publish %d ended sessions", len(notice.sessions))

    def close_soon(self, sid: str, namespace: str) -> None:
        """Close one socket once the current handler returned (its refusal acknowledgement is queued first)."""
        task = asyncio.ensure_future(self._sio.disconnect(sid, namespace=namespace))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @contextlib.asynccontextmanager
    async def sweep_held(self) -> AsyncIterator[None]:
        """No sweep runs meanwhile: a flow that ends sessions and then tells their sockets why (the end of a
        consultation) is not overtaken by a sweep closing them first."""
        async with self._sweep_lock:
            yield

    async def sweep(self) -> None:
        """Re-read every session with a socket here; close the sockets of those that ended."""
        async with self._sweep_lock:
            await self._sweep()

    async def _sweep(self) -> None:
        local = self._local_sessions()
        if not local:
            self._confirmed.clear()
            return
        found = await self._web_sessions.live(local)
        now = self._monotonic()
        self._confirmed = {h: _Confirmed(expires_at, now) for h, expires_at in found.items()}
        await self._close_local(local - found.keys())

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._sweep_forever()))
        if self._bus is not None:
            self._tasks.append(asyncio.create_task(self._listen_forever(self._bus)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._bus is not None:
            await self._bus.close()

    # -- internals -------------------------------------------------------------------------------------------
    async def _apply(self, notice: Notice) -> None:
        for consultation_id in notice.consultations:
            for callback in self._consultation_callbacks:
                callback(consultation_id)
        await self._close_local(notice.sessions)

    async def _close_local(self, session_hashes: Iterable[str]) -> None:
        for session_hash in session_hashes:
            self._confirmed.pop(session_hash, None)
            for namespace in self._namespaces:
                room = session_room(session_hash)
                for sid, _ in list(self._sio.manager.get_participants(namespace, room)):
                    try:
                        await self._sio.disconnect(sid, namespace=namespace)
                    except Exception:
                        logger.exception("could not close a socket of an ended session")

    def _local_sessions(self) -> set[str]:
        # The manager's room table is this process's own (with Redis too): exactly the sockets to guard here.
        hashes: set[str] = set()
        for namespace in self._namespaces:
            for room, members in self._sio.manager.rooms.get(namespace, {}).items():
                if isinstance(room, str) and room.startswith("s:") and members:
                    hashes.add(room[2:])
        return hashes

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_s)
            try:
                await self.sweep()
            except Exception:
                logger.exception("session sweep failed")

    async def _listen_forever(self, bus: SessionBus) -> None:
        while True:
            try:
                await bus.listen(self._apply)
            except Exception:
                logger.exception("session notices interrupted; the sweep covers the gap")
            await asyncio.sleep(_BUS_RETRY_S)
