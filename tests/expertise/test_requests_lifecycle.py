"""Request lifecycle, submission and routing on the real service and databases (the directory is faked)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from expertise import (
    STATES, TRANSITIONS, AnswerReport, InvalidRequest, InvalidTransition, NewRequest, RequestForbidden,
    RequestNotFound, check_transition,
)
from expertise.request_models import RequestOffer, RequestTransition
from tests.expertise.requests_support import GP, NURSE, Harness, expert, harness, request_body

__all__ = ["harness"]


def new(**overrides: Any) -> NewRequest:
    return NewRequest.parse(request_body(**overrides), ("urgent", "soon", "routine"))


# -- 1. the state machine ------------------------------------------------------------------------------------
def test_every_transition_target_is_a_known_state_and_terminal_states_are_final() -> None:
    assert all(targets <= STATES for targets in TRANSITIONS.values())
    assert TRANSITIONS["closed"] == TRANSITIONS["cancelled"] == frozenset()
    check_transition("offered", "accepted")
    check_transition("info_requested", "accepted")
    for current, target in (("answered", "offered"), ("closed", "accepted"), ("submitted", "answered"),
                            ("offered", "answered"), ("cancelled", "offered"), ("offered", "offered")):
        with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
            check_transition(current, target)


async def test_invalid_transitions_are_refused_and_every_move_is_persisted(harness: Harness) -> None:
    harness.directory.add("20000000001", 0)
    request = await harness.service.submit(GP, new())
    specialist = expert("20000000001")
    with pytest.raises(InvalidTransition, match="from offered to answered"):
        await harness.service.answer(specialist, request.summary.id, AnswerReport("avis", "", "none"))
    harness.clock.advance(minutes=5)
    await harness.service.accept(specialist, request.summary.id)
    with pytest.raises(InvalidTransition, match="from accepted to accepted"):
        await harness.service.accept(specialist, request.summary.id)
    await harness.service.answer(specialist, request.summary.id, AnswerReport("Bénin", "Surveillance", "none"))
    closed = await harness.service.close(GP, request.summary.id, referral_avoided=True)
    with pytest.raises(InvalidTransition):
        await harness.service.cancel(GP, request.summary.id)
    moves = [(t.from_state, t.to_state, t.actor) for t in closed.transitions]
    assert moves == [("", "submitted", GP.user_id), ("submitted", "offered", "system:routing"),
                     ("offered", "accepted", specialist.user_id), ("accepted", "answered", specialist.user_id),
                     ("answered", "closed", GP.user_id)]
    assert closed.transitions[2].at > closed.transitions[1].at
    assert closed.summary.referral_avoided is True


# -- 2. creation -------------------------------------------------------------------------------------------
async def test_request_is_routed_and_health_content_is_sealed_at_rest(harness: Harness) -> None:
    harness.directory.add("20000000001", 1)
    detail = await harness.service.submit(GP, new())
    assert detail.summary.status == "offered" and detail.summary.assigned_rpps == "20000000001"
    assert detail.patient["identity_status"] == "qualifiee" and detail.consent["method"] == "oral"
    assert detail.summary.answer_due_at - detail.summary.created_at == harness.service.policy.for_urgency(
        "routine").answer
    async with harness.sessions() as session:
        raw = repr((await session.execute(text("SELECT * FROM expertise_requests"))).all())
    for secret in ("Durand", "171037512345678", "Lésion", "phototype"):
        assert secret not in raw


@pytest.mark.parametrize(("overrides", "message"), [
    ({"consent": {"obtained": False}}, "consent to tele-expertise is required"),
    ({"consent": None}, "consent to tele-expertise is required"),
    ({"urgency": "yesterday"}, "urgency must be one of"),
    ({"question": ""}, "question is required"),
    ({"question": "x" * 4001}, "limited to 4000"),
    ({"commune": "PARIS"}, "INSEE"),
    ({"patient": {"family_name": "A", "given_names": "B", "birth_date": "1970-01-01",
                  "identity_status": "qualifiee"}}, "carries its INS"),
    ({"patient": {"family_name": "A", "given_names": "B", "birth_date": "1970-01-01",
                  "identity_status": "douteuse"}}, "identity_status must be one of"),
    ({"patient": {"family_name": "A", "given_names": "B", "birth_date": "1970-13-01",
                  "identity_status": "provisoire"}}, "birth_date"),
])
def test_bad_requests_are_refused_with_a_clear_message(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        new(**overrides)


async def test_only_allowed_professions_may_request(harness: Harness) -> None:
    harness.directory.add("20000000001", 0)
    assert (await harness.service.submit(NURSE, new())).summary.status == "offered"  # nurses may ask (d4)
    from expertise import Actor
    for actor in (Actor("c" * 32, "regulator"), Actor("d" * 32, "practitioner", profession="pharmacien")):
        with pytest.raises(RequestForbidden):
            await harness.service.submit(actor, new())


# -- 3. routing --------------------------------------------------------------------------------------------
async def test_routing_prefers_proximity_then_language_then_load_and_skips_full(harness: Harness) -> None:
    d = harness.directory
    d.add("20000000009", 3)
    d.add("20000000002", 1, capacity=1, languages=("fr",))
    d.add("20000000003", 1, capacity=4, languages=("fr", "ar"))
    d.add("20000000004", 1, capacity=4, languages=("fr", "ar"))
    first = await harness.service.submit(GP, new(language="ar"))
    assert first.summary.assigned_rpps == "20000000003"   # same proximity: the Arabic speaker, lowest RPPS
    second = await harness.service.submit(GP, new(language="ar"))
    assert second.summary.assigned_rpps == "20000000004"  # 3 now carries one request out of four
    third = await harness.service.submit(GP, new(language="fr"))
    assert third.summary.assigned_rpps == "20000000002"   # empty, same proximity
    fourth = await harness.service.submit(GP, new(language="fr"))
    assert fourth.summary.assigned_rpps == "20000000003"  # 2 is full (capacity 1): skipped
    assert "20000000009" not in {r.summary.assigned_rpps for r in (first, second, third, fourth)}


async def test_decline_goes_to_the_next_candidate_never_the_same_twice(harness: Harness) -> None:
    for rpps, proximity in (("20000000001", 0), ("20000000002", 1), ("20000000003", 2)):
        harness.directory.add(rpps, proximity)
    harness.directory.add(GP.rpps or "", 0)  # the requester is in the directory too: never offered their own
    rid = (await harness.service.submit(GP, new())).summary.id
    await harness.service.decline(expert("20000000001"), rid, "absent")
    assert (await harness.service.summary(GP, rid)).assigned_rpps == "20000000002"
    with pytest.raises(RequestNotFound):  # the one who declined no longer sees it
        await harness.service.get(expert("20000000001"), rid)
    await harness.service.decline(expert("20000000002"), rid)
    await harness.service.decline(expert("20000000003"), rid)
    summary = await harness.service.summary(GP, rid)
    assert summary.status == "escalated" and summary.assigned_rpps is None
    async with harness.sessions() as session:
        offered = list(await session.scalars(select(RequestOffer.rpps).where(RequestOffer.request_id == rid)
                                             .order_by(RequestOffer.id)))
    assert offered == ["20000000001", "20000000002", "20000000003"]
    assert [n.event for n in harness.notifier.notices if n.user_id == GP.user_id] == ["request.unrouted"]


async def test_no_candidate_at_all_escalates_at_once(harness: Harness) -> None:
    detail = await harness.service.submit(GP, new(specialty="neurologie"))
    assert detail.summary.status == "escalated"
    async with harness.sessions() as session:
        moves = list(await session.scalars(select(RequestTransition.to_state).order_by(RequestTransition.id)))
    assert moves == ["submitted", "escalated"]
