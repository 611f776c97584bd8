"""Notices that web sessions ended, over Redis pub/sub, so that every server process closes their sockets at once.

A notice names session hashes only (never a cookie value). It is an accelerator: without Redis, or when a notice is
lost, each process's sweep (``socket_sessions.py``) still finds the ended sessions in the database within a second.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio as aioredis

__all__ = ["SessionBus", "CHANNEL"]

logger = logging.getLogger(__name__)

CHANNEL = "lucarne-sessions-ended"
Handler = Callable[[list[str]], Awaitable[None]]


class SessionBus:
    def __init__(self, url: str) -> None:
        self._client = aioredis.from_url(url)

    async def publish(self, session_hashes: Sequence[str]) -> None:
        if session_hashes:
            await self._client.publish(CHANNEL, json.dumps({"sessions": list(session_hashes)}))

    async def listen(self, handler: Handler) -> None:
        """Call ``handler`` with the hashes of every notice, until cancelled or the connection fails."""
        pubsub = self._client.pubsub()
        await pubsub.subscribe(CHANNEL)
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    hashes = _hashes(message.get("data"))
                    if hashes:
                        await handler(hashes)
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        await self._client.aclose()


def _hashes(data: object) -> list[str]:
    """The session hashes of a notice; anything malformed is ignored (the sweep is the safety net)."""
    try:
        sessions = json.loads(data)["sessions"]  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError):
        logger.warning("ignored a malformed session notice")
        return []
    if not isinstance(sessions, list):
        return []
    return [h for h in sessions if isinstance(h, str) and len(h) == 64]
