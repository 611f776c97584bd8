"""Durable deadlines: offer expiry reassigns, answer deadline escalates and re-routes, each timer fires once
(two nodes with their own engines race here; test_requests_restart.py uses real processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from expertise import DeadlinePolicy, InvalidRequest, NewRequest, RequestNotFound
from expertise.request_models import RequestOffer, RequestTimer, RequestTransition
from tests.expertise.requests_support import GP, Harness, build, expert, harness, request_body

__all__ = ["harness"]


def new(urgency: str = "routine") -> NewRequest:
    return NewRequest.parse(request_body(urgency=urgency), ("urgent", "soon", "routine"))


def test_deadline_policy_parses_overrides_and_refuses_the_legal_maximum() -> None:
    policy = DeadlinePolicy.parse("urgent=10m/2h, routine=1h/3d")
    assert policy.for_urgency("urgent").offer.total_seconds() == 600
    assert policy.for_urgency("routine").answer.days == 3
    assert policy.for_urgency("soon") == DeadlinePolicy().for_urgency("soon")
    for spec, message in (("routine=1h/8d", "7 days"), ("later=1h/2h", "unknown urgency"),
                          ("urgent=ten/2h", "must look like"), ("urgent=3h/2h", "may not exceed")):
        with pytest.raises(InvalidRequest, match=message):
            DeadlinePolicy.parse(spec)
    assert all(d.answer.days < 7 for _, d in DeadlinePolicy().deadlines)


async def _timers(h: Harness, rid: str) -> list[tuple[str, str]]:
    async with h.sessions() as session:
        rows = await session.scalars(select(RequestTimer).where(RequestTimer.request_id == rid)
                                     .order_by(RequestTimer.id))
        return [(t.kind, t.result or ("cancelled" if t.claimed_by == "cancelled" else "pending")) for t in rows]


async def test_an_offer_nobody_accepts_goes_to_the_next_candidate(harness: Harness) -> None:
    harness.directory.add("20000000001", 0)
    harness.directory.add("20000000002", 2)
    rid = (await harness.service.submit(GP, new("urgent"))).summary.id
    harness.clock.advance(minutes=29)
    assert await harness.service.fire_due() == []
    harness.clock.advance(minutes=2)
    fired = await harness.service.fire_due()
    assert [result for _, result in fired] == ["reassigned"]
    assert (await harness.service.summary(GP, rid)).assigned_rpps == "20000000002"
    with pytest.raises(RequestNotFound):
        await harness.service.get(expert("20000000001"), rid)
    assert await harness.service.fire_due() == []  # fired once, never again
    assert await _timers(harness, rid) == [("offer_expiry", "reassigned"), ("offer_expiry", "pending")]
    harness.clock.advance(minutes=31)
    assert [r for _, r in await harness.service.fire_due()] == ["escalated"]  # nobody left
    assert (await harness.service.summary(GP, rid)).status == "escalated"


async def test_accepting_cancels_the_offer_timer_and_sets_answer_timers(harness: Harness) -> None:
    harness.directory.add("20000000001", 0)
    harness.directory.add("20000000002", 0)
    rid = (await harness.service.submit(GP, new("urgent"))).summary.id  # answer within 4 h
    harness.clock.advance(minutes=10)
    await harness.service.accept(expert("20000000001"), rid)
    assert await _timers(harness, rid) == [("offer_expiry", "cancelled"), ("answer_reminder", "pending"),
                                           ("answer_escalation", "pending")]
    harness.clock.advance(hours=3)
    assert [r for _, r in await harness.service.fire_due()] == ["reminded"]
    assert any(n.event == "request.answer_reminder" and n.rpps == "20000000001" for n in harness.notifier.notices)
    harness.clock.advance(minutes=51)
    assert [r for _, r in await harness.service.fire_due()] == ["rerouted"]
    summary = await harness.service.summary(GP, rid)
    assert (summary.status, summary.assigned_rpps) == ("offered", "20000000002")
    with pytest.raises(RequestNotFound):  # the late specialist lost access at once
        await harness.service.thread(expert("20000000001"), rid)
    events = [(n.event, n.user_id or n.rpps) for n in harness.notifier.notices[-3:]]
    assert events == [("request.escalated", GP.user_id), ("request.withdrawn", "20000000001"),
                      ("request.offered", "20000000002")]
    async with harness.sessions() as session:
        moves = list(await session.scalars(select(RequestTransition.to_state).where(
            RequestTransition.request_id == rid).order_by(RequestTransition.id)))
        outcomes = list(await session.scalars(select(RequestOffer.outcome).where(RequestOffer.request_id == rid)
                                              .order_by(RequestOffer.id)))
    assert moves == ["submitted", "offered", "accepted", "escalated", "offered"]
    assert outcomes == ["revoked", "pending"]


async def test_answering_in_time_cancels_escalation(harness: Harness) -> None:
    from expertise import AnswerReport
    harness.directory.add("20000000001", 0)
    rid = (await harness.service.submit(GP, new("urgent"))).summary.id
    await harness.service.accept(expert("20000000001"), rid)
    await harness.service.answer(expert("20000000001"), rid, AnswerReport("avis", "", "none"))
    harness.clock.advance(days=2)
    assert await harness.service.fire_due() == []
    assert (await harness.service.summary(GP, rid)).status == "answered"


async def test_two_nodes_racing_fire_each_timer_exactly_once(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    first = build(sessions, tmp_path / "a", node="node-a")
    from server.platform.db import open_database
    async with open_database(engine.url.render_as_string(hide_password=False)) as (_, other_sessions):
        second = build(other_sessions, tmp_path / "b", node="node-b")
        second.clock.current = first.clock.current
        for h in (first, second):
            for rpps in ("20000000001", "20000000002", "20000000003"):
                h.directory.add(rpps, int(rpps[-1]))
        ids = [(await first.service.submit(GP, new("urgent"))).summary.id for _ in range(6)]
        for h in (first, second):
            h.clock.advance(minutes=31)
        results = await asyncio.gather(first.service.fire_due(), second.service.fire_due())
    fired = [timer for batch in results for timer, _ in batch]
    assert len(fired) == len(set(fired)) == 6
    async with sessions() as session:
        for rid in ids:
            expired = await session.scalars(select(RequestTransition).where(
                RequestTransition.request_id == rid, RequestTransition.to_state == "expired"))
            assert len(list(expired)) == 1
            offers = list(await session.scalars(select(RequestOffer.outcome).where(RequestOffer.request_id == rid)
                                                .order_by(RequestOffer.id)))
            assert offers == ["expired", "pending"]


async def test_an_escalated_request_is_routed_again_when_someone_becomes_available(harness: Harness) -> None:
    rid = (await harness.service.submit(GP, new("urgent"))).summary.id
    assert (await harness.service.summary(GP, rid)).status == "escalated"
    harness.clock.advance(minutes=31)
    assert [r for _, r in await harness.service.fire_due()] == ["waiting"]  # still nobody: keeps waiting
    harness.directory.add("20000000005", 4)
    harness.clock.advance(minutes=31)
    assert [r for _, r in await harness.service.fire_due()] == ["rerouted"]
    summary = await harness.service.summary(GP, rid)
    assert (summary.status, summary.assigned_rpps) == ("offered", "20000000005")
    unrouted = [n for n in harness.notifier.notices if n.event == "request.unrouted"]
    assert len(unrouted) == 1  # the requester is told once, not at every retry
    await harness.service.cancel(GP, rid)
    assert all(state in ("cancelled", "reassigned", "waiting", "rerouted")
               for _, state in await _timers(harness, rid))
