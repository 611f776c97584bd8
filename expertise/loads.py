"""Open requests per specialist (their load), for routing decisions without a query per decision.

A routing decision ranks ~50 candidates by load. Counting their open requests in SQL on every decision cost a
session and a query (2–4 ms, more under load); :class:`LoadBook` keeps the counts of every specialist who holds an
open request, read in one ``GROUP BY`` and refreshed ahead in the background every ``ttl`` seconds, and adjusted
by this process's own transitions (the dispatcher calls :meth:`LoadBook.track`):

- a request entering an assigned state (an offer) counts at once, before its transaction commits, and is taken
  back if the transaction rolls back: two decisions of this process never both see the same free place;
- a request leaving an assigned state (decline, expiry, answer, escalation, cancellation) frees the place only
  once its transaction has committed.

Changes made by other processes are seen at the next refresh (≤ ``ttl`` plus one refresh). The cache is a ranking
hint, never the capacity check: :meth:`LoadBook.confirm` counts the chosen specialist's open requests in the
routing transaction itself before the offer is written, so a stale count can delay an offer but never give a
specialist more open requests than their capacity (the same guarantee as counting every candidate in SQL).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from .lifecycle import ASSIGNED_STATES
from .request_models import ExpertiseRequest

__all__ = ["LoadBook", "open_loads"]

logger = logging.getLogger(__name__)

_ASSIGNED = sorted(ASSIGNED_STATES)
_PENDING = "lucarne.expertise.load_changes"  # key in ``Session.info``: this transaction's uncommitted changes
_LISTENING = "lucarne.expertise.load_listeners"


def _pending(info: dict[Any, Any], *, pop: bool = False) -> list[tuple[str, int]]:
    """This transaction's uncommitted ``(rpps, delta)`` changes. ``Session.info`` is an untyped dict; only
    :meth:`LoadBook.track` writes under ``_PENDING``, always such pairs."""
    changes = info.pop(_PENDING, []) if pop else info.get(_PENDING, [])
    return cast(list[tuple[str, int]], changes)


async def open_loads(session: AsyncSession, rpps: list[str]) -> dict[str, int]:
    """How many open requests each of these specialists holds, read in ``session``."""
    if not rpps:
        return {}
    rows = await session.execute(
        select(ExpertiseRequest.assigned_rpps, func.count()).where(
            ExpertiseRequest.assigned_rpps.in_(rpps), ExpertiseRequest.status.in_(_ASSIGNED))
        .group_by(ExpertiseRequest.assigned_rpps))
    return {str(r): int(n) for r, n in rows.all()}


class LoadBook:
    """Cached open-request counts (see the module docstring). ``ttl`` = 0 reads them in SQL on every decision,
    inside the routing transaction (then :meth:`confirm` has nothing to add)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._monotonic = monotonic
        self._base: dict[str, int] | None = None  # the last snapshot read from the database
        self._loaded = 0.0
        self._delta: Counter[str] = Counter()     # committed changes since that snapshot was read
        self._next_delta: Counter[str] | None = None  # committed changes since the running refresh began
        self._reserved: Counter[str] = Counter()  # offers of transactions not yet committed or rolled back
        self._refresh: asyncio.Task[None] | None = None

    @property
    def cached(self) -> bool:
        return self._ttl > 0

    async def loads(self, session: AsyncSession, rpps: list[str]) -> dict[str, int]:
        """Open requests of each of ``rpps`` (absent: none). No query while the cache is fresh."""
        if not self.cached:
            return await open_loads(session, rpps)
        if self._base is None:
            await self._load()
        elif self._monotonic() - self._loaded > self._ttl and self._refresh is None:
            # Refresh ahead: this decision uses the current counts while a fresh snapshot loads.
            self._refresh = asyncio.create_task(self._reload(), name="expertise-loads")
        return {r: n for r in rpps if (n := self.count(r))}

    def count(self, rpps: str) -> int:
        assert self._base is not None
        return max(0, self._base.get(rpps, 0) + self._delta[rpps]) + self._reserved[rpps]

    async def confirm(self, session: AsyncSession, rpps: str) -> int:
        """The specialist's open requests counted in ``session`` (the routing transaction, which holds the
        request's lock), plus the offers other transactions of this process have made but not committed yet (so
        two concurrent decisions of one process never take the same last place); corrects the cache."""
        if not self.cached:
            return (await open_loads(session, [rpps])).get(rpps, 0)
        counted = (await open_loads(session, [rpps])).get(rpps, 0)
        # The count sees this transaction's own flushed changes: take them out so the cache is not corrected by them.
        own = [delta for holder, delta in _pending(session.info) if holder == rpps]
        committed = counted - sum(own)
        if self._base is not None:
            self._delta[rpps] = committed - self._base.get(rpps, 0)
            if self._next_delta is not None:
                self._next_delta[rpps] = self._delta[rpps]
        return counted + max(0, self._reserved[rpps] - sum(d for d in own if d > 0))

    def track(self, session: AsyncSession, rpps: str, delta: int) -> None:
        """Record that ``rpps`` gains (+1) or loses (−1) an open request in ``session``'s transaction."""
        if not self.cached:
            return
        if not session.info.get(_LISTENING):
            # Per-session listeners (sessions live for one operation); never removed while dispatching.
            session.info[_LISTENING] = True
            event.listen(session.sync_session, "after_commit", self._committed)
            event.listen(session.sync_session, "after_transaction_end", self._ended)
        session.info.setdefault(_PENDING, []).append((rpps, delta))
        if delta > 0:
            self._reserved[rpps] += delta

    def _committed(self, sync: Session) -> None:
        for rpps, delta in _pending(sync.info, pop=True):
            if delta > 0:
                self._unreserve(rpps, delta)
            self._delta[rpps] += delta
            if self._next_delta is not None:
                self._next_delta[rpps] += delta

    def _ended(self, sync: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is not None:  # a savepoint or subtransaction: the outer one decides
            return
        # Anything still pending was rolled back (or the session closed without committing): no change happened.
        for rpps, delta in _pending(sync.info, pop=True):
            if delta > 0:
                self._unreserve(rpps, delta)

    def _unreserve(self, rpps: str, delta: int) -> None:
        self._reserved[rpps] -= delta
        if self._reserved[rpps] <= 0:
            del self._reserved[rpps]

    async def _load(self) -> None:
        self._next_delta = Counter()
        started = self._monotonic()
        try:
            async with self._sessions() as session:
                rows = await session.execute(
                    select(ExpertiseRequest.assigned_rpps, func.count())
                    .where(ExpertiseRequest.status.in_(_ASSIGNED), ExpertiseRequest.assigned_rpps.is_not(None))
                    .group_by(ExpertiseRequest.assigned_rpps))
                base = {str(r): int(n) for r, n in rows.all()}
        except BaseException:
            self._next_delta = None
            raise
        # Changes committed while the snapshot was read are kept on top of it (the snapshot may not have seen them).
        self._base, self._delta, self._next_delta = base, self._next_delta, None
        self._loaded = started

    async def _reload(self) -> None:
        try:
            await self._load()
        except Exception:
            logger.exception("refreshing the open-request counts failed; the current counts are kept")
        finally:
            self._refresh = None

    def invalidate(self) -> None:
        """Read the counts afresh at the next decision."""
        self._base = None

    async def close(self) -> None:
        task, self._refresh = self._refresh, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
