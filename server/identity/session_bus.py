"""Notices that web sessions (or consultations) ended, over Redis pub/sub, so that every server process closes their
sockets at once and forgets what it cached about them.

A notice names session hashes and consultation ids only (never a cookie value). It is an accelerator: without Redis,
or when a notice is lost, each process's sweep (``socket_sessions.py``) still finds the ended sessions in the
database within a second.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

__all__ = ["SessionBus", "Notice", "CHANNEL"]

logger = logging.getLogger(__name__)

CHANNEL = "lucarne-sessions-ended"


@dataclass(frozen=True)
class Notice:
    sessions: list[str]  # hashes of web sessions that ended
    consultations: list[str]  # ids of consultations that ended


Handler = Callable[[Notice], Awaitable[None]]


class SessionBus:
    def __init__(self, url: str) -> None:
        self._client = aioredis.from_url(url)

    async def publish(self, session_hashes: Sequence[str], consultations: Sequence[str] = ()) -> None:
        if session_hashes or consultations:
            await self._client.publish(CHANNEL, json.dumps({"sessions": list(session_hashes),
                                                            "consultations": list(consultations)}))

    async def listen(self, handler: Handler) -> None:
        """Call ``handler`` with every notice, until cancelled or the connection fails."""
        pubsub = self._client.pubsub()
        await pubsub.subscribe(CHANNEL)
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    notice = _notice(message.get("data"))
                    if notice is not None:
                        await handler(notice)
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        await self._client.aclose()


def _notice(data: object) -> Notice | None:
    """The notice in a message; anything malformed is ignored (the sweep is the safety net)."""
    try:
        body = json.loads(data)  # type: ignore[arg-type]
        sessions, consultations = body.get("sessions", []), body.get("consultations", [])
    except (TypeError, ValueError, AttributeError):
        logger.warning("ignored a malformed session notice")
        return None
    if not isinstance(sessions, list) or not isinstance(consultations, list):
        return None
    return Notice([h for h in sessions if isinstance(h, str) and len(h) == 64],
                  [c for c in consultations if isinstance(c, str) and len(c) <= 64])
