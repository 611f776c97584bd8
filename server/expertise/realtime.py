"""Realtime notices for tele-expertise: a small ``/expertise`` socket.io namespace on the app's server.

A professional's socket joins ``u:<user id>`` and, when the account is linked to the directory, ``rpps:<RPPS>``;
notices go to those rooms (in every process when a message queue is configured). A notice carries the request id,
the event and the new status only, never health content: the page fetches the request, which re-checks access.
The socket also joins ``s:<session hash>``: it is closed when its login session ends (``socket_sessions.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import socketio

from expertise import Notice

from ..identity.sessions import WebSessions
from ..identity.socket_sessions import session_room
from ..platform.db import SessionFactory
from ..platform.models import User
from ..teleconsultation.calls import cookie_token

__all__ = ["ExpertiseNotifier", "NAMESPACE"]

logger = logging.getLogger(__name__)
NAMESPACE = "/expertise"


class ExpertiseNotifier:
    def __init__(self, sio: socketio.AsyncServer, sessions: SessionFactory, web_sessions: WebSessions) -> None:
        self._sio = sio
        self._sessions = sessions
        self._web_sessions = web_sessions

    def register(self) -> None:
        # Clients send nothing here: the server refuses every client event (and reserved names) by itself.
        self._sio.on("connect", self._connect, namespace=NAMESPACE)

    async def notify(self, notice: Notice) -> None:
        rooms = [room for room in (f"u:{notice.user_id}" if notice.user_id else None,
                                   f"rpps:{notice.rpps}" if notice.rpps else None) if room]
        payload = {"request": notice.request_id, "event": notice.event, "status": notice.status}
        try:
            await self._sio.emit("request", payload, to=rooms, namespace=NAMESPACE)
        except Exception:  # the database is the source of truth; a lost notice is only a late refresh
            logger.exception("could not send notice %s for request %s", notice.event, notice.request_id)

    async def _connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        principal = await self._web_sessions.resolve(cookie_token(environ.get("HTTP_COOKIE")))
        if principal is None or principal.kind != "user" or principal.user_id is None:
            raise socketio.exceptions.ConnectionRefusedError("professional login required")
        async with self._sessions() as session:
            user = await session.get(User, principal.user_id)
        await self._sio.enter_room(sid, session_room(principal.session_hash), namespace=NAMESPACE)
        await self._sio.enter_room(sid, f"u:{principal.user_id}", namespace=NAMESPACE)
        if user is not None and user.rpps:
            await self._sio.enter_room(sid, f"rpps:{user.rpps}", namespace=NAMESPACE)
