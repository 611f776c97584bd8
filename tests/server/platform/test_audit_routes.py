"""Every HTTP route that reads or writes health data writes an audit entry with address, role and result.

The routes come from the app's router: a route that is neither in ``AUDITED`` nor in ``NOT_HEALTH_DATA`` fails the
first test, so a new route must be classified (and, if it touches health data, audited) before it ships.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from aiohttp import web
from PIL import Image
from sqlalchemy import func, select

from server.keys import accounts_key, db_key
from server.platform.models import AuditEntry, Participant
from tests.expertise.requests_support import PNG_1x1, http_body, seed_professional
from tests.fakes import Browser

API = "/api/expertise/requests"
CONSULTATION = "/api/consultations/{cid}"
CASE = "/api/cases/{case}"
REQUEST = API + "/{rid}"

AUDITED = {
    ("POST", "/login"),
    ("GET", "/console"), ("GET", "/console/c/{cid}"), ("POST", "/j/{token}"),
    ("POST", "/api/consultations"), ("GET", "/api/consultations"), ("GET", CONSULTATION),
    ("POST", CONSULTATION + "/links"), ("GET", CONSULTATION + "/links"),
    ("POST", CONSULTATION + "/links/{jti}/revoke"), ("GET", CONSULTATION + "/links/{jti}/qr.svg"),
    ("GET", CONSULTATION + "/links/{jti}/invite.ics"), ("GET", CONSULTATION + "/chat"),
    ("GET", CONSULTATION + "/events"),
    ("POST", CONSULTATION + "/end"), ("GET", CONSULTATION + "/media"), ("PUT", CONSULTATION + "/report"),
    ("POST", CONSULTATION + "/participants/{pid}/remove"),
    ("POST", "/api/cases"), ("GET", "/api/cases"), ("GET", CASE), ("POST", CASE + "/link"),
    ("POST", CASE + "/link/send"), ("POST", CASE + "/members"), ("GET", CASE + "/timeline"),
    ("GET", CASE + "/captures"), ("GET", CASE + "/captures/{capture}.jpg"), ("GET", CASE + "/export"),
    ("POST", CASE + "/close"), ("POST", CASE + "/watch"), ("POST", CASE + "/capture"),
    ("POST", CASE + "/commands"), ("GET", "/regulation"), ("GET", "/regulation/{case}"), ("POST", "/c/{token}"),
    ("POST", "/api/caller/events"), ("POST", "/api/caller/stills"),
    ("POST", API), ("GET", API), ("GET", REQUEST), ("POST", REQUEST + "/accept"), ("POST", REQUEST + "/decline"),
    ("POST", REQUEST + "/cancel"), ("GET", REQUEST + "/messages"), ("POST", REQUEST + "/{kind}"),
    ("POST", REQUEST + "/answer"), ("POST", REQUEST + "/close"), ("POST", REQUEST + "/billing"),
    ("POST", REQUEST + "/teleconsultation"), ("POST", REQUEST + "/attachments"),
    ("GET", REQUEST + "/attachments/{aid}"),
    ("GET", "/fhir/ServiceRequest"), ("GET", "/fhir/ServiceRequest/{id}"), ("GET", "/fhir/Task"),
    ("GET", "/fhir/Task/{id}"), ("GET", "/fhir/Communication"),
    ("GET", "/expertise"), ("GET", "/expertise/r/{rid}"), ("GET", "/expertise/metrics"),
    ("GET", "/api/expertise/metrics"),
}
NOT_HEALTH_DATA = {
    ("GET", "/"), ("GET", "/login"), ("POST", "/logout"), ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/static"), ("GET", "/socket.io/"), ("POST", "/socket.io/"), ("OPTIONS", "/socket.io/"),  # socket tests
    # A link's landing page names nobody and uses nothing (previews see it); its button's POST is audited.
    ("GET", "/j/{token}"), ("GET", "/c/{token}"),
    ("GET", "/visit"),  # the patient's page: the practitioner's name only; the call itself is audited at join
    ("GET", "/caller"),  # the caller's page: no case data
    ("GET", "/admin"),  # the administrator's landing page: words about what exists, no data
    ("GET", "/api/caller/commands"),  # camera commands (switch, torch) for the caller's own page
    ("POST", "/api/caller/offer"),  # the caller publishes their own stream; every viewer is audited at watch
    # The professional directory (public RPPS data and the professional's own profile), audited anyway.
    ("GET", "/directory/profile"), ("GET", "/api/directory/profile"), ("PUT", "/api/directory/profile"),
    ("POST", "/api/directory/profile/absences"), ("DELETE", "/api/directory/profile/absences/{aid}"),
    ("GET", "/fhir/Practitioner"), ("GET", "/fhir/Practitioner/{id}"), ("GET", "/fhir/PractitionerRole"),
}


def routes_of(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if route.method != "HEAD":  # aiohttp adds HEAD to every GET: the same handler, so the same audit
            found.add((route.method, str(path).replace("{kind:messages|info-request|info}", "{kind}")))
    return found


async def test_every_route_is_classified_as_audited_or_free_of_health_data(live_server: Any) -> None:
    routes = routes_of(live_server.app)
    assert routes - AUDITED - NOT_HEALTH_DATA == set(), "classify these new routes (and audit them if they touch "\
                                                       "health data)"
    assert AUDITED | NOT_HEALTH_DATA >= routes and AUDITED <= routes


class Audited:
    """Runs requests and checks that each one adds an entry with the client address, a role and a result."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.covered: set[tuple[str, str]] = set()

    async def _last(self) -> int:
        async with self.server.app[db_key]() as session:
            return int(await session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))) or 0)

    async def call(self, browser: Browser, route: tuple[str, str], path: str, *, rpps: str = "",
                   expect: int | tuple[int, ...] = (200, 201, 303), **kwargs: Any) -> Any:
        before = await self._last()
        if browser.csrf:
            response = await browser.api(route[0], path, allow_redirects=False, **kwargs)
        else:
            response = await browser.session.request(route[0], path, allow_redirects=False, **kwargs)
        body = await response.read()
        allowed = (expect,) if isinstance(expect, int) else expect
        assert response.status in allowed, (route, response.status, body[:300])
        async with self.server.app[db_key]() as session:
            entries = list(await session.scalars(select(AuditEntry).where(AuditEntry.seq > before)))
        assert entries, f"{route} wrote no audit entry"
        assert any(e.remote == "127.0.0.1" and e.role and e.result and e.object and e.actor for e in entries), (
            route, [(e.actor, e.role, e.action, e.result, e.remote) for e in entries])
        if rpps:
            assert any(e.rpps == rpps for e in entries), (route, [(e.action, e.rpps) for e in entries])
        self.covered.add(route)
        return response, body


async def _account(server: Any, name: str, role: str, rpps: str | None = None) -> Browser:
    await server.app[accounts_key].create(name, "correct horse battery", f"Dr {name}", role, rpps=rpps)
    browser = Browser(server)
    assert (await browser.login(name)).status == 303
    return browser


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def test_each_health_data_route_writes_an_entry_with_address_role_and_result(live_server: Any) -> None:
    server, audited = live_server, Audited(live_server)
    sessions = server.app[db_key]
    await seed_professional(sessions, "10000000001", accepts=False)
    await seed_professional(sessions, "20000000001", accepts=True)
    gp = await _account(server, "gpone", "practitioner", "10000000001")
    expert = await _account(server, "expert", "specialist", "20000000001")
    regulator = await _account(server, "regul", "regulator")
    caller, patient = Browser(server), Browser(server)
    try:
        await _consultations(audited, gp, patient)
        await _cases(audited, regulator, caller)
        await _expertise(audited, gp, expert)
        login = Browser(server)
        await audited.call(login, ("POST", "/login"), "/login", expect=401,
                           data={"username": "x" * 80, "password": "wrong"})
        await login.session.close()
    finally:
        for browser in (gp, expert, regulator, caller, patient):
            await browser.session.close()
    assert AUDITED - audited.covered == set()


async def _consultations(audited: Audited, gp: Browser, patient: Browser) -> None:
    rpps = "10000000001"
    _, body = await audited.call(gp, ("POST", "/api/consultations"), "/api/consultations", rpps=rpps, json={
        "patient_name": "Jeanne Patient",
        "scheduled_at": (audited.server.clock.now() + timedelta(hours=1)).isoformat()})
    created = __import__("json").loads(body)
    cid, link = created["consultation"]["id"], created["link"]
    base = f"/api/consultations/{cid}"
    await audited.call(gp, ("GET", "/api/consultations"), "/api/consultations", rpps=rpps)
    await audited.call(gp, ("GET", CONSULTATION), base, rpps=rpps)
    await audited.call(gp, ("POST", CONSULTATION + "/links"), base + "/links", json={"role": "guest"}, rpps=rpps)
    await audited.call(gp, ("GET", CONSULTATION + "/links"), base + "/links", rpps=rpps)
    await audited.call(gp, ("GET", CONSULTATION + "/links/{jti}/qr.svg"), link["qr_url"], rpps=rpps)
    await audited.call(gp, ("GET", CONSULTATION + "/links/{jti}/invite.ics"), link["ics_url"], rpps=rpps)
    await audited.call(gp, ("GET", CONSULTATION + "/chat"), base + "/chat", rpps=rpps)
    await audited.call(gp, ("GET", CONSULTATION + "/media"), base + "/media", rpps=rpps)
    await audited.call(gp, ("GET", CONSULTATION + "/events"), base + "/events", rpps=rpps)
    await audited.call(gp, ("PUT", CONSULTATION + "/report"), base + "/report", json={"report": "RAS"}, rpps=rpps)
    await audited.call(gp, ("GET", "/console"), "/console", rpps=rpps)
    await audited.call(gp, ("GET", "/console/c/{cid}"), f"/console/c/{cid}", rpps=rpps)
    path = link["url"].removeprefix(audited.server.url)
    assert (await patient.session.get(path)).status == 200  # the landing page
    await audited.call(patient, ("POST", "/j/{token}"), path, expect=303)
    async with audited.server.app[db_key]() as session:
        pid = await session.scalar(select(Participant.id).where(Participant.consultation_id == cid,
                                                                 Participant.kind == "patient"))
    await audited.call(gp, ("POST", CONSULTATION + "/participants/{pid}/remove"),
                       f"{base}/participants/{pid}/remove", json={}, rpps=rpps)
    await audited.call(gp, ("POST", CONSULTATION + "/links/{jti}/revoke"), f"{base}/links/{link['jti']}/revoke",
                       rpps=rpps)
    await audited.call(gp, ("POST", CONSULTATION + "/end"), base + "/end", json={}, rpps=rpps)


async def _cases(audited: Audited, regulator: Browser, caller: Browser) -> None:
    import json
    _, body = await audited.call(regulator, ("POST", "/api/cases"), "/api/cases", json={
        "case_number": "SAMU75-1", "caller_phone": "+33 6 12 34 56 78", "reason": "Chute"})
    created = json.loads(body)
    case = created["case"]["id"]
    base = f"/api/cases/{case}"
    await audited.call(regulator, ("GET", "/api/cases"), "/api/cases")
    await audited.call(regulator, ("GET", CASE), base)
    await audited.call(regulator, ("GET", "/regulation"), "/regulation")
    await audited.call(regulator, ("GET", "/regulation/{case}"), f"/regulation/{case}")
    await audited.call(regulator, ("POST", CASE + "/link/send"), base + "/link/send", expect=(201, 502))
    _, body = await audited.call(regulator, ("POST", CASE + "/link"), base + "/link")
    token_path = json.loads(body)["url"].removeprefix(audited.server.url)
    await audited.call(regulator, ("POST", CASE + "/members"), base + "/members", json={"username": "gpone"})
    assert (await caller.session.get(token_path)).status == 200  # the landing page
    await audited.call(caller, ("POST", "/c/{token}"), token_path, expect=303)
    caller.csrf = await _caller_csrf(caller)
    await audited.call(caller, ("POST", "/api/caller/events"), "/api/caller/events",
                       json={"kind": "location", "detail": {"lat": 48.85, "lon": 2.35, "accuracy": 20}})
    _, body = await audited.call(caller, ("POST", "/api/caller/stills"), "/api/caller/stills?lat=48.85&lon=2.35",
                                 data=_jpeg(), headers={"Content-Type": "image/jpeg"})
    capture = json.loads(body)["capture"]
    await audited.call(regulator, ("GET", CASE + "/timeline"), base + "/timeline")
    await audited.call(regulator, ("GET", CASE + "/captures"), base + "/captures")
    await audited.call(regulator, ("GET", CASE + "/captures/{capture}.jpg"), f"{base}/captures/{capture}.jpg")
    await audited.call(regulator, ("GET", CASE + "/export"), base + "/export")
    await audited.call(regulator, ("POST", CASE + "/commands"), base + "/commands", json={"command": "torch_on"})
    # Without a live stream these are refused after the membership check, which is what gets audited.
    await audited.call(regulator, ("POST", CASE + "/watch"), base + "/watch", json={"sdp": "v=0"},
                       expect=(400, 404, 409))
    await audited.call(regulator, ("POST", CASE + "/capture"), base + "/capture", expect=(404, 409))
    await audited.call(regulator, ("POST", CASE + "/close"), base + "/close")


async def _caller_csrf(caller: Browser) -> str:
    import re
    page = await (await caller.session.get("/caller")).text()
    match = re.search(r'"csrf":\s*"([^"]+)"', page)
    assert match
    return match.group(1)


async def _expertise(audited: Audited, gp: Browser, expert: Browser) -> None:
    import json
    gp_rpps, expert_rpps = "10000000001", "20000000001"
    _, body = await audited.call(gp, ("POST", API), API, json=http_body(), rpps=gp_rpps)
    rid = json.loads(body)["id"]
    base = f"{API}/{rid}"
    await audited.call(gp, ("GET", API), API, rpps=gp_rpps)
    await audited.call(gp, ("GET", REQUEST), base, rpps=gp_rpps)
    _, body = await audited.call(gp, ("POST", REQUEST + "/attachments"), base + "/attachments?name=photo.png",
                                 data=PNG_1x1, rpps=gp_rpps)
    aid = json.loads(body)["id"]
    await audited.call(expert, ("POST", REQUEST + "/accept"), base + "/accept", rpps=expert_rpps)
    await audited.call(expert, ("GET", REQUEST + "/attachments/{aid}"), f"{base}/attachments/{aid}",
                       rpps=expert_rpps)
    await audited.call(expert, ("POST", REQUEST + "/{kind}"), base + "/messages", json={"text": "Photo nette ?"},
                       rpps=expert_rpps)
    await audited.call(gp, ("GET", REQUEST + "/messages"), base + "/messages", rpps=gp_rpps)
    await audited.call(gp, ("POST", REQUEST + "/teleconsultation"), base + "/teleconsultation", rpps=gp_rpps)
    await audited.call(expert, ("POST", REQUEST + "/answer"), base + "/answer", rpps=expert_rpps, json={
        "opinion": "Naevus bénin", "recommendations": "Surveillance", "consultation_needed": "none"})
    await audited.call(gp, ("POST", REQUEST + "/billing"), base + "/billing", json={"code": "RQD"}, rpps=gp_rpps)
    await audited.call(gp, ("POST", REQUEST + "/close"), base + "/close", json={"referral_avoided": True},
                       rpps=gp_rpps)
    await audited.call(gp, ("GET", "/fhir/ServiceRequest"), "/fhir/ServiceRequest", rpps=gp_rpps)
    await audited.call(gp, ("GET", "/fhir/ServiceRequest/{id}"), f"/fhir/ServiceRequest/{rid}", rpps=gp_rpps)
    await audited.call(gp, ("GET", "/fhir/Task"), "/fhir/Task", rpps=gp_rpps)
    await audited.call(gp, ("GET", "/fhir/Task/{id}"), f"/fhir/Task/{rid}", rpps=gp_rpps)
    await audited.call(gp, ("GET", "/fhir/Communication"), f"/fhir/Communication?based-on=ServiceRequest/{rid}", rpps=gp_rpps)
    await audited.call(gp, ("GET", "/expertise"), "/expertise", rpps=gp_rpps)
    await audited.call(gp, ("GET", "/expertise/r/{rid}"), f"/expertise/r/{rid}", rpps=gp_rpps)
    await audited.call(gp, ("GET", "/expertise/metrics"), "/expertise/metrics", expect=(200, 404))
    await audited.call(gp, ("GET", "/api/expertise/metrics"), "/api/expertise/metrics", expect=(200, 404))
    _, body = await audited.call(gp, ("POST", API), API, json=http_body(), rpps=gp_rpps)
    second = json.loads(body)["id"]
    await audited.call(expert, ("POST", REQUEST + "/decline"), f"{API}/{second}/decline", json={"reason": "congés"},
                       rpps=expert_rpps)
    await audited.call(gp, ("POST", REQUEST + "/cancel"), f"{API}/{second}/cancel", rpps=gp_rpps,
                       expect=(200, 409))


async def test_socket_join_and_chat_entries_carry_the_client_address(live_server: Any) -> None:
    from tests.fakes import SocketPeer, join_as_patient, new_consultation

    gp = await _account(live_server, "gpone", "practitioner", "10000000001")
    created = await new_consultation(gp)
    cid = created["consultation"]["id"]
    patient = await join_as_patient(live_server, created["link"]["url"])
    doctor_socket, patient_socket = await SocketPeer.connect(gp), await SocketPeer.connect(patient)
    try:
        assert (await doctor_socket.call("join", {"consultation": cid}))["ok"]
        joined = await patient_socket.call("join", {})
        assert joined["ok"], joined
        await patient_socket.call("ready", {})
        assert (await doctor_socket.call("admit", {"participant": joined["me"]}))["ok"]
        assert (await patient_socket.call("chat", {"text": "bonjour"}))["ok"]
    finally:
        for peer in (doctor_socket, patient_socket):
            await peer.close()
        for browser in (gp, patient):
            await browser.session.close()
    async with live_server.app[db_key]() as session:
        entries = list(await session.scalars(select(AuditEntry).where(AuditEntry.action.in_(["call.join",
                                                                                           "chat.write"]))))
    assert sorted(e.action for e in entries) == ["call.join", "call.join", "chat.write"]
    assert all(e.remote == "127.0.0.1" for e in entries), [(e.action, e.remote) for e in entries]
    assert [e.rpps for e in entries if e.role == "practitioner"] == ["10000000001"]


async def test_a_forwarded_for_header_does_not_choose_the_address_in_the_log(live_server: Any) -> None:
    gp = await _account(live_server, "gpone", "practitioner", "10000000001")
    try:
        forged = {"X-Forwarded-For": "203.0.113.66", "Forwarded": "for=203.0.113.66", "X-Real-IP": "203.0.113.66"}
        assert (await gp.api("GET", "/api/consultations", headers=forged)).status == 200
    finally:
        await gp.session.close()
    async with live_server.app[db_key]() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "consultation.list"))
    assert entry is not None and entry.remote == "127.0.0.1" and entry.rpps == "10000000001"
