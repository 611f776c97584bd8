"""After acceptance: billing codes with the yearly cap, and escalation to a teleconsultation with both doctors."""

from __future__ import annotations

from typing import Any

import pytest

from expertise import AnswerReport, BillingLimitReached, InvalidRequest, NewRequest, RequestForbidden
from tests.expertise.requests_support import GP, Harness, expert, harness, request_body
from tests.fakes import Browser, open_link
from tests.server.expertise.test_requests_http import API, _create, _login, _people

__all__ = ["harness"]
SPECIALIST = expert("20000000001")


async def _answered(h: Harness, **overrides: Any) -> str:
    rid = (await h.service.submit(GP, NewRequest.parse(request_body(**overrides), h.service.policy.urgencies))).summary.id
    await h.service.accept(SPECIALIST, rid)
    await h.service.answer(SPECIALIST, rid, AnswerReport("avis", "", "none"))
    return rid


async def test_billing_codes_are_capped_at_four_per_patient_per_year(harness: Harness) -> None:
    harness.directory.add("20000000001", 0, capacity=50)
    requests = [await _answered(harness) for _ in range(5)]
    for count, rid in enumerate(requests[:4], start=1):
        assert (await harness.service.bill(GP, rid, "RQD"))["count"] == count
        await harness.service.bill(SPECIALIST, rid, "TE2")
    with pytest.raises(BillingLimitReached, match="at most 4 tele-expertise acts per patient per year"):
        await harness.service.bill(GP, requests[4], "RQD")
    with pytest.raises(BillingLimitReached, match="TE2 was already billed 4 times in 2026"):
        await harness.service.bill(SPECIALIST, requests[4], "TE2")
    # Another patient is not affected; a new calendar year starts a new count.
    other = await _answered(harness, patient={"family_name": "Martin", "given_names": "Lea",
                                              "birth_date": "1990-05-05", "identity_status": "provisoire"})
    assert (await harness.service.bill(GP, other, "RQD"))["count"] == 1
    harness.clock.advance(days=310)
    assert (await harness.service.bill(GP, requests[4], "RQD"))["year"] == 2027


async def test_billing_rules_who_when_and_once(harness: Harness) -> None:
    harness.directory.add("20000000001", 0)
    rid = (await harness.service.submit(GP, NewRequest.parse(request_body(), ("routine",)))).summary.id
    with pytest.raises(RequestForbidden):
        await harness.service.bill(GP, rid, "TE2")  # the expert's code
    await harness.service.accept(SPECIALIST, rid)
    with pytest.raises(InvalidRequest, match="once the expert has answered"):
        await harness.service.bill(SPECIALIST, rid, "TE2")
    await harness.service.answer(SPECIALIST, rid, AnswerReport("avis", "", "teleconsultation"))
    with pytest.raises(InvalidRequest, match="must be one of"):
        await harness.service.bill(GP, rid, "TCG")
    await harness.service.bill(GP, rid, "rqd".upper())
    with pytest.raises(InvalidRequest, match="already attached"):
        await harness.service.bill(GP, rid, "RQD")


async def test_escalation_to_a_teleconsultation_with_both_professionals(live_server: Any) -> None:
    await _people(live_server)
    gp, near = await _login(live_server, "gpone"), await _login(live_server, "near")
    try:
        rid = (await _create(gp))["id"]
        early = await gp.api("POST", f"{API}/{rid}/teleconsultation")
        assert early.status == 400 and "once a specialist has accepted" in (await early.json())["message"]
        assert (await near.api("POST", f"{API}/{rid}/accept")).status == 200
        assert (await near.api("POST", f"{API}/{rid}/teleconsultation")).status == 403
        opened = await gp.api("POST", f"{API}/{rid}/teleconsultation")
        assert opened.status == 201, await opened.text()
        consultation = (await opened.json())["consultation"]
        assert consultation["patient_name"] == "Paul Durand"
        again = await gp.api("POST", f"{API}/{rid}/teleconsultation")
        assert again.status == 400 and "already" in (await again.json())["message"]
        # The requester owns the consultation; the specialist gets a guest link on the request.
        assert (await gp.api("GET", f"/api/consultations/{consultation['id']}")).status == 200
        mine = await (await gp.api("GET", f"{API}/{rid}")).json()
        assert mine["consultation_id"] == consultation["id"] and mine["consultation_link"] is None
        theirs = await (await near.api("GET", f"{API}/{rid}")).json()
        link = theirs["consultation_link"]
        assert link.startswith(live_server.url + "/j/")
        async with Browser(live_server) as call_tab:  # the link opens the call in its own session
            joined = await open_link(call_tab, link)
            assert joined.status == 303
        # Answer, then the outcome: the referral was avoided thanks to the video consultation.
        await near.api("POST", f"{API}/{rid}/answer", json={"opinion": "Vu en visio", "consultation_needed":
                                                            "teleconsultation"})
        closed = await (await gp.api("POST", f"{API}/{rid}/close", json={"referral_avoided": True})).json()
        assert closed["referral_avoided"] is True and closed["answer"]["consultation_needed"] == "teleconsultation"
    finally:
        await gp.session.close()
        await near.session.close()
