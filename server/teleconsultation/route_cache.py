"""Signaling routes (may this member signal that one, and is it online?) cached per process.

Every ``signal`` event needs the answer, and a database round trip per message would dominate the relay. An allowed
route is kept for ``allowed_s`` (spread over 50-100 % so that routes cached in one busy second do not expire in
the same second); once it is due it is still served while one background lookup refreshes it, so no message ever
waits for the database after the first. A refusal is kept for ``denied_s`` and never served stale. Changes made in
this process call :meth:`RouteCache.forget` at once; a generation counter stops a refresh that started before the
change from writing back the old answer. Changes made by another process are seen within ``allowed_s`` plus one
lookup.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["RouteCache", "Route"]

logger = logging.getLogger(__name__)

Route = bool | None  # None: refused; otherwise whether the target is online
RouteKey = tuple[str, str]  # (sender participant, target participant)
Lookup = Callable[[str, str, str], Awaitable[Route]]  # (consultation, sender, target) -> route

_MAX_ENTRIES = 10_000


@dataclass(slots=True)
class _Entry:
    route: Route
    due: float


class RouteCache:
    def __init__(self, lookup: Lookup, *, allowed_s: float, denied_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._allowed_s = allowed_s
        self._denied_s = denied_s
        self._now = monotonic
        self._entries: dict[RouteKey, _Entry] = {}
        self._refreshing: dict[RouteKey, asyncio.Task[None]] = {}
        self._generation = 0

    async def get(self, consultation_id: str, sender: str, target: str) -> Route:
        key = (sender, target)
        entry = self._entries.get(key)
        if entry is not None:
            now = self._now()
            if now < entry.due:
                return entry.route
            if entry.route is not None and now < entry.due + self._allowed_s:
                self._refresh_soon(key, consultation_id)
                return entry.route
        return await self._load(key, consultation_id)

    def forget(self, participant_id: str | None = None) -> None:
        """Drop the routes of one participant (admission, departure, presence), or every route (end)."""
        self._generation += 1
        if participant_id is None:
            self._entries.clear()
            return
        for key in [key for key in self._entries if participant_id in key]:
            del self._entries[key]

    async def close(self) -> None:
        """Cancel refreshes still running (application shutdown)."""
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._refreshing.clear()

    async def _load(self, key: RouteKey, consultation_id: str) -> Route:
        generation = self._generation
        route = await self._lookup(consultation_id, *key)
        if generation == self._generation:
            self._store(key, route)
        return route

    def _store(self, key: RouteKey, route: Route) -> None:
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        delay = (self._denied_s if route is None else self._allowed_s) * random.uniform(0.5, 1.0)
        self._entries[key] = _Entry(route, self._now() + delay)

    def _refresh_soon(self, key: RouteKey, consultation_id: str) -> None:
        if key in self._refreshing:
            return
        task = asyncio.create_task(self._refresh(key, consultation_id))
        self._refreshing[key] = task

    async def _refresh(self, key: RouteKey, consultation_id: str) -> None:
        try:
            await self._load(key, consultation_id)
        except Exception:
            # The stale answer expires on its own; the next message then looks it up in line and sees the error.
            logger.exception("signaling route refresh failed")
        finally:
            self._refreshing.pop(key, None)
