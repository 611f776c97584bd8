"""Catalogue §4d 7: administrator and support accounts cannot read consultation content or attachments.

An ``admin`` account gets the same 404 as any other professional who does not own the record (and as a random id),
and every refusal is audited. There is no break-glass access yet (issue #13 builds the administration side).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from server.keys import db_key
from server.platform.models import AuditEntry
from tests.expertise.requests_support import PNG_1x1, http_body, seed_professional
from tests.fakes import Browser, open_link
from tests.server.platform.test_audit_routes import _account, _caller_csrf, _jpeg

RANDOM = "0123456789abcdef0123456789abcdef"


async def _records(server: Any) -> dict[str, str]:
    """A consultation with a report and chat, a case with a capture, an expertise request with an attachment."""
    await seed_professional(server.app[db_key], "10000000001", accepts=False)
    await seed_professional(server.app[db_key], "20000000001", accepts=True)
    gp = await _account(server, "gpone", "practitioner", "10000000001")
    await _account(server, "expert", "specialist", "20000000001")
    regulator = await _account(server, "regul", "regulator")
    caller = Browser(server)
    try:
        created = await (await gp.api("POST", "/api/consultations", json={
            "patient_name": "Jeanne Patient", "scheduled_at": "2030-01-15T10:30:00+01:00"})).json()
        cid, jti = created["consultation"]["id"], created["link"]["jti"]
        assert (await gp.api("PUT", f"/api/consultations/{cid}/report", json={"report": "RAS"})).status == 200
        case = await (await regulator.api("POST", "/api/cases", json={
            "case_number": "SAMU75-1", "caller_phone": "+33 6 12 34 56 78", "reason": "Chute"})).json()
        case_id = case["case"]["id"]
        assert (await open_link(caller, case["link"]["url"])).status == 303
        caller.csrf = await _caller_csrf(caller)
        still = await caller.api("POST", "/api/caller/stills", data=_jpeg(), headers={"Content-Type": "image/jpeg"})
        capture = (await still.json())["capture"]
        rid = (await (await gp.api("POST", "/api/expertise/requests", json=http_body())).json())["id"]
        upload = await gp.api("POST", f"/api/expertise/requests/{rid}/attachments?name=photo.png", data=PNG_1x1)
        aid = (await upload.json())["id"]
    finally:
        for browser in (gp, regulator, caller):
            await browser.session.close()
    return {"cid": cid, "jti": jti, "case": case_id, "capture": capture, "rid": rid, "aid": aid}


def _reads(ids: dict[str, str]) -> list[tuple[str, str, Any]]:
    c, k, r = f"/api/consultations/{ids['cid']}", f"/api/cases/{ids['case']}", f"/api/expertise/requests/{ids['rid']}"
    return [
        ("GET", c, None), ("GET", c + "/chat", None), ("GET", c + "/events", None), ("GET", c + "/links", None),
        ("GET", f"{c}/links/{ids['jti']}/qr.svg", None), ("PUT", c + "/report", {"report": "x"}),
        ("GET", k, None), ("GET", k + "/timeline", None), ("GET", k + "/captures", None),
        ("GET", f"{k}/captures/{ids['capture']}.jpg", None), ("GET", k + "/export", None),
        ("GET", r, None), ("GET", r + "/messages", None), ("GET", f"{r}/attachments/{ids['aid']}", None),
    ]


def _random(path: str, ids: dict[str, str]) -> str:
    for key in ("cid", "case", "rid", "capture", "aid", "jti"):
        path = path.replace(ids[key], RANDOM)
    return path


async def test_an_admin_gets_the_same_404_as_any_non_owner_and_is_audited(live_server: Any) -> None:
    ids = await _records(live_server)
    admin = await _account(live_server, "support", "admin")
    try:
        for method, path, body in _reads(ids):
            response = await admin.api(method, path, json=body)
            assert response.status == 404, (path, response.status)
            unknown = await admin.api(method, _random(path, ids), json=body)
            assert unknown.status == 404, (_random(path, ids), unknown.status)
            # Same answer as for an id that does not exist: nothing tells the admin the record is there.
            assert json.loads(await response.read())["error"] == json.loads(await unknown.read())["error"]
        assert (await admin.api("GET", f"/fhir/ServiceRequest/{ids['rid']}")).status == 404
        for page in (f"/console/c/{ids['cid']}", f"/regulation/{ids['case']}", f"/expertise/r/{ids['rid']}"):
            assert (await admin.session.get(page, allow_redirects=False)).status == 404, page
    finally:
        await admin.session.close()
    async with live_server.app[db_key]() as session:
        denied = list(await session.scalars(select(AuditEntry).where(AuditEntry.role == "admin",
                                                                     AuditEntry.result == "denied")))
    assert len(denied) >= len(_reads(ids)) and all(entry.remote == "127.0.0.1" for entry in denied)
