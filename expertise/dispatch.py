"""Routing and durable deadlines: offers a request to the best candidate, and fires due timers exactly once.

Every change here runs inside the caller's transaction, on a request row the caller has locked. A timer is fired
by :meth:`Dispatcher.fire`, whose first statement is the guarded claim
``UPDATE expertise_timers SET claimed_at = now WHERE id = :id AND claimed_at IS NULL``: on PostgreSQL a second
process blocks on the row and then updates nothing; on SQLite the write lock serialises them the same way. The
claim commits with the effect it had (a crash before commit leaves the timer unclaimed, to be fired again).
A request nobody can take stays ``escalated`` and is retried by a ``reroute`` timer once per offer period.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .deadlines import ANSWER_ESCALATION, ANSWER_REMINDER, OFFER_EXPIRY, REROUTE, DeadlinePolicy
from .lifecycle import ASSIGNED_STATES, check_transition
from .loads import LoadBook, open_loads
from .request_models import ExpertiseRequest, RequestOffer, RequestTimer, RequestTransition
from .request_ports import ClockPort, DirectoryPort, Notice
from .routing import RankedCandidate, rank_candidates

__all__ = ["Dispatcher", "move", "lock_request", "open_loads"]

# PostgreSQL advisory lock key under which routing decisions take places ("LCNROUTE" in ASCII).
_ROUTING_LOCK = 0x4C434E524F555445

logger = logging.getLogger(__name__)


def move(session: AsyncSession, row: ExpertiseRequest, target: str, actor: str, now: datetime,
         detail: str = "") -> None:
    """Apply one lifecycle transition and persist it (who, when, from, to)."""
    check_transition(row.status, target)
    session.add(RequestTransition(request_id=row.id, at=now, actor=actor[:64], from_state=row.status,
                                  to_state=target, detail=detail[:500]))
    row.status = target


async def lock_request(session: AsyncSession, request_id: str) -> ExpertiseRequest | None:
    """Load a request for change. A no-op UPDATE first takes the row lock on PostgreSQL and the write lock on
    SQLite, so two writers never act on the same stale state."""
    await session.execute(update(ExpertiseRequest).where(ExpertiseRequest.id == request_id)
                          .values(status=ExpertiseRequest.status))
    return await session.get(ExpertiseRequest, request_id, populate_existing=True)


class Dispatcher:
    """``load_ttl`` > 0 keeps the specialists' open-request counts in memory (:class:`~expertise.loads.LoadBook`):
    decisions rank without a query, and the chosen specialist's count is confirmed in the routing transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: ClockPort, directory: DirectoryPort,
                 policy: DeadlinePolicy, node: str = "", *, load_ttl: float = 0.0) -> None:
        self._sessions = sessions
        self._clock = clock
        self._directory = directory
        self._policy = policy
        self._node = node[:64]
        self.loads = LoadBook(sessions, ttl=load_ttl)

    async def close(self) -> None:
        await self.loads.close()

    def move(self, session: AsyncSession, row: ExpertiseRequest, target: str, actor: str, now: datetime,
             detail: str = "") -> None:
        """:func:`move`, keeping the load cache in step: every lifecycle change of this process goes through here."""
        before, holder = row.status, row.assigned_rpps
        move(session, row, target, actor, now, detail)
        if holder and (before in ASSIGNED_STATES) != (target in ASSIGNED_STATES):
            self.loads.track(session, holder, 1 if target in ASSIGNED_STATES else -1)

    # -- routing ---------------------------------------------------------------------------------------------
    async def route(self, session: AsyncSession, row: ExpertiseRequest, actor: str, now: datetime,
                    notices: list[Notice]) -> None:
        """Offer the request to the best candidate not offered it before, or escalate when nobody is left."""
        offered = set(await session.scalars(select(RequestOffer.rpps).where(RequestOffer.request_id == row.id)))
        exclude = offered | ({row.requester_rpps} if row.requester_rpps else set())
        candidates = await self._directory.candidates(row.specialty, row.commune, now, exclude=exclude, limit=50)
        loads = await self.loads.loads(session, [c.rpps for c in candidates])
        ranked = rank_candidates(candidates, loads, language=row.language, exclude=exclude)
        best, load = await self._first_with_room(session, ranked)
        if best is None:
            row.assigned_rpps = None
            if row.status != "escalated":  # an answer escalation (or a retry) that finds nobody stays escalated
                self.move(session, row, "escalated", actor, now, "no available specialist left to offer it to")
                notices.append(Notice("request.unrouted", row.id, row.status, user_id=row.requester_id))
            # Someone may come back from absence or free capacity: try again after one offer period.
            self.add_timer(session, row.id, REROUTE, now + self._policy.for_urgency(row.urgency).offer, now)
            logger.info("request %s: no candidate left, escalated", row.id)
            return
        expires = now + self._policy.for_urgency(row.urgency).offer
        offer = RequestOffer(request_id=row.id, rpps=best.rpps, offered_at=now, expires_at=expires,
                             outcome="pending")
        session.add(offer)
        await session.flush()
        row.assigned_rpps, row.offered_at = best.rpps, now
        self.move(session, row, "offered", actor, now, f"offered to {best.rpps} (proximity {best.proximity}, "
                                                       f"load {load}/{best.capacity})")
        self.add_timer(session, row.id, OFFER_EXPIRY, expires, now, offer_id=offer.id)
        notices.append(Notice("request.offered", row.id, row.status, rpps=best.rpps))
        logger.info("request %s offered to %s", row.id, best.rpps)

    async def _first_with_room(self, session: AsyncSession, ranked: list[RankedCandidate]
                               ) -> tuple[RankedCandidate | None, int]:
        """The best ranked specialist whose open requests, counted in this transaction, leave room. With cached
        loads the ranking may rest on a count up to one refresh old: the capacity check itself never does."""
        if ranked:
            await _serialise_routing(session)
        for candidate in ranked:
            load = await self.loads.confirm(session, candidate.rpps)
            if load < candidate.capacity:
                return candidate, load
            logger.info("specialist %s is full (%d/%d) although the cached load said otherwise",
                        candidate.rpps, load, candidate.capacity)
        return None, 0

    async def pending_offer(self, session: AsyncSession, row: ExpertiseRequest) -> RequestOffer | None:
        return await session.scalar(select(RequestOffer).where(
            RequestOffer.request_id == row.id, RequestOffer.rpps == row.assigned_rpps,
            RequestOffer.outcome == "pending"))

    async def settle_offer(self, session: AsyncSession, row: ExpertiseRequest, outcome: str,
                           now: datetime) -> None:
        """Close the current specialist's offer (accepted, declined, expired, revoked) and its expiry timer."""
        await session.execute(update(RequestOffer).where(
            RequestOffer.request_id == row.id, RequestOffer.outcome.in_(("pending", "accepted")))
            .values(outcome=outcome, decided_at=now))
        await self.cancel_timers(session, row.id, (OFFER_EXPIRY,), now)

    # -- timers ----------------------------------------------------------------------------------------------
    def add_timer(self, session: AsyncSession, request_id: str, kind: str, due: datetime, now: datetime,
                  offer_id: int | None = None) -> None:
        session.add(RequestTimer(request_id=request_id, kind=kind, offer_id=offer_id, due_at=due, created_at=now,
                                 claimed_by="", result=""))

    async def cancel_timers(self, session: AsyncSession, request_id: str, kinds: tuple[str, ...],
                            now: datetime) -> None:
        await session.execute(update(RequestTimer).where(
            RequestTimer.request_id == request_id, RequestTimer.kind.in_(kinds), RequestTimer.claimed_at.is_(None))
            .values(claimed_at=now, claimed_by="cancelled", result="cancelled"))

    def answer_timers(self, session: AsyncSession, row: ExpertiseRequest, now: datetime) -> None:
        """Reminder and escalation for the specialist who just accepted. The escalation is at the answer deadline
        promised at submission, unless less than half an answer window is left (after a re-route)."""
        window = self._policy.for_urgency(row.urgency).answer
        due = row.answer_due_at if row.answer_due_at - now >= window / 2 else now + window / 2
        self.add_timer(session, row.id, ANSWER_REMINDER, self._policy.reminder_at(now, due), now)
        self.add_timer(session, row.id, ANSWER_ESCALATION, due, now)

    async def due(self, limit: int = 50) -> list[int]:
        now = self._clock.now()
        async with self._sessions() as session:
            ids = await session.scalars(select(RequestTimer.id).where(
                RequestTimer.claimed_at.is_(None), RequestTimer.due_at <= now)
                .order_by(RequestTimer.due_at, RequestTimer.id).limit(limit))
            return list(ids)

    async def fire(self, timer_id: int) -> tuple[str, list[Notice]] | None:
        """Claim and act on one timer. ``None`` when another process (or a cancellation) got it first."""
        async with self._sessions() as session:  # a separate read: the write transaction below starts by writing
            request_id = await session.scalar(select(RequestTimer.request_id).where(
                RequestTimer.id == timer_id, RequestTimer.claimed_at.is_(None)))
        if request_id is None:
            return None
        now = self._clock.now()
        notices: list[Notice] = []
        async with self._sessions.begin() as session:
            # Lock order everywhere: the request row first, then its timers (no deadlock with accept/answer).
            row = await lock_request(session, request_id)
            claimed = await session.execute(update(RequestTimer).where(
                RequestTimer.id == timer_id, RequestTimer.claimed_at.is_(None))
                .values(claimed_at=now, claimed_by=self._node or "node"))
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            timer = await session.get(RequestTimer, timer_id, populate_existing=True)
            assert timer is not None
            result = "stale" if row is None else await self._act(session, timer, row, now, notices)
            timer.result = result
        logger.info("timer %s (%s) on request %s fired: %s", timer_id, timer.kind, request_id, result)
        return result, notices

    async def _act(self, session: AsyncSession, timer: RequestTimer, row: ExpertiseRequest, now: datetime,
                   notices: list[Notice]) -> str:
        actor = f"system:{timer.kind}"
        if timer.kind == OFFER_EXPIRY:
            offer = await self.pending_offer(session, row)
            if row.status != "offered" or offer is None or offer.id != timer.offer_id:
                return "stale"
            previous = row.assigned_rpps
            await self.settle_offer(session, row, "expired", now)
            self.move(session, row, "expired", actor, now, f"offer to {previous} not accepted in time")
            notices.append(Notice("request.offer_expired", row.id, "expired", rpps=previous))
            await self.route(session, row, actor, now, notices)
            return "reassigned" if row.status == "offered" else "escalated"
        if timer.kind == ANSWER_REMINDER:
            if row.status not in ("accepted", "info_requested"):
                return "stale"
            notices.append(Notice("request.answer_reminder", row.id, row.status, rpps=row.assigned_rpps))
            return "reminded"
        if timer.kind == ANSWER_ESCALATION:
            if row.status not in ("accepted", "info_requested"):
                return "stale"
            previous = row.assigned_rpps
            await self.settle_offer(session, row, "revoked", now)
            await self.cancel_timers(session, row.id, (ANSWER_REMINDER,), now)
            self.move(session, row, "escalated", actor, now, f"not answered in time by {previous}")
            # A video consultation opened with the late specialist is theirs: the next one gets a fresh one.
            row.consultation_id, row.consultation_link_enc = None, None
            notices.append(Notice("request.escalated", row.id, "escalated", user_id=row.requester_id))
            notices.append(Notice("request.withdrawn", row.id, "escalated", rpps=previous))
            await self.route(session, row, actor, now, notices)
            return "rerouted" if row.status == "offered" else "escalated"
        if timer.kind == REROUTE:
            if row.status != "escalated":
                return "stale"
            await self.route(session, row, actor, now, notices)
            return "rerouted" if row.status == "offered" else "waiting"
        return "unknown"


async def _serialise_routing(session: AsyncSession) -> None:
    """On PostgreSQL, one routing decision at a time across every process, until the transaction ends.

    Under read committed, two processes counting the same specialist's open requests at the same instant would
    both see the last free place. The lock makes the second count wait for the first offer's commit, so it sees
    that offer. A decision holds it for a few milliseconds, and requests arrive a few a minute. SQLite needs
    nothing: it has one writer at a time, and a transaction whose snapshot went stale is refused, not
    over-assigned."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROUTING_LOCK})
