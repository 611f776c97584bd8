"""The regulator's pages in words: case statuses, a case number already open refused with an explanation."""

from __future__ import annotations

from typing import Any

from tests.fakes import Browser, make_user

CASE = {"case_number": "SAMU69-0042", "caller_phone": "+33 6 00 00 00 01", "reason": "Chute"}


async def _regulator(server: Any) -> Browser:
    await make_user(server, "regulateur", role="regulator")
    browser = Browser(server)
    assert (await browser.login("regulateur")).status == 303
    return browser


async def test_a_case_number_already_open_is_refused_with_words_and_free_again_once_closed(live_server: Any) -> None:
    async with await _regulator(live_server) as regulator:
        first = await regulator.api("POST", "/api/cases", json=CASE)
        assert first.status == 201
        again = await regulator.api("POST", "/api/cases", json=CASE)
        assert again.status == 409
        body = await again.json()
        assert body["error"] == "case_number_open" and "already open" in body["message"]
        assert (await (await regulator.api("GET", "/api/cases")).json())["cases"].__len__() == 1
        case_id = (await first.json())["case"]["id"]
        assert (await regulator.api("POST", f"/api/cases/{case_id}/close")).status == 200
        assert (await regulator.api("POST", "/api/cases", json=CASE)).status == 201


async def test_case_statuses_are_words_in_the_page_language(live_server: Any) -> None:
    async with await _regulator(live_server) as regulator:
        case_id = (await (await regulator.api("POST", "/api/cases", json=CASE)).json())["case"]["id"]
        page = await (await regulator.session.get(f"/regulation/{case_id}?lang=fr")).text()
        assert '<span id="case-status">En cours</span>' in page
        assert (await regulator.api("POST", f"/api/cases/{case_id}/close")).status == 200
        listing = await (await regulator.session.get("/regulation?lang=en")).text()
        assert "<td>Closed</td>" in listing and "<td>closed</td>" not in listing
        page = await (await regulator.session.get(f"/regulation/{case_id}?lang=fr")).text()
        assert '<span id="case-status">Clôturé</span>' in page
        assert "js_case_number_open" in listing  # the refusal's words reach the form
