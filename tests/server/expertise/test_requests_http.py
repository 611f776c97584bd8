"""The request API over real HTTPS with the real directory: creation, attachments, access control, notices."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import socketio
from PIL import Image
from sqlalchemy import select, text

from server.keys import accounts_key, db_key
from server.platform.models import AuditEntry
from tests.expertise.requests_support import PDF_MIN, PNG_1x1, http_body, make_pdf, seed_professional
from tests.fakes import Browser, join_as_patient, new_consultation

API = "/api/expertise/requests"


async def _people(server: Any) -> dict[str, str]:
    sessions = server.app[db_key]
    ids = {}
    for name, role, rpps, commune, dep, accepts in (
            ("gpone", "practitioner", "10000000001", "69123", "69", False),
            ("gptwo", "practitioner", "10000000002", "69123", "69", False),
            ("near", "specialist", "20000000001", "69123", "69", True),
            ("far", "specialist", "20000000002", "75056", "75", True)):
        await seed_professional(sessions, rpps, commune=commune, departement=dep, accepts=accepts)
        account = await server.app[accounts_key].create(name, "correct horse battery", f"Dr {name}", role, rpps=rpps)
        ids[name] = account.id
    return ids


async def _login(server: Any, name: str) -> Browser:
    browser = Browser(server)
    assert (await browser.login(name)).status == 303
    return browser


async def _create(browser: Browser, **overrides: Any) -> dict[str, Any]:
    response = await browser.api("POST", API, json=http_body(**overrides))
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def test_request_flow_over_http_with_the_real_directory(live_server: Any) -> None:
    ids = await _people(live_server)
    gp, near = await _login(live_server, "gpone"), await _login(live_server, "near")
    try:
        created = await _create(gp)
        assert created["status"] == "offered" and created["assigned_rpps"] == "20000000001"
        rid = created["id"]
        refused = await gp.api("POST", API, json=http_body(consent={"obtained": False}))
        assert refused.status == 400 and "consent" in (await refused.json())["message"]
        upload = await gp.api("POST", f"{API}/{rid}/attachments?name=../../photo.png", data=PNG_1x1,
                              headers={"Content-Type": "application/octet-stream"})
        assert upload.status == 201, await upload.text()
        attachment = await upload.json()
        assert attachment["content_type"] == "image/png" and attachment["name"] == "photo.png"
        pdf = await gp.api("POST", f"{API}/{rid}/attachments?name=ecg.pdf", data=PDF_MIN)
        assert (await pdf.json())["content_type"] == "application/pdf"
        for bad, message in ((b"MZ\x90\x00 not an image", "only JPEG, PNG and PDF"),
                             (PDF_MIN[:-7], "truncated"), (PNG_1x1[:40], "not a readable PNG")):
            response = await gp.api("POST", f"{API}/{rid}/attachments?name=x.png", data=bad)
            assert response.status == 400 and message in (await response.json())["message"]
        big = make_pdf("scan " * (600 * 1024))  # 3 MB: several network chunks
        large = await gp.api("POST", f"{API}/{rid}/attachments?name=scan.pdf", data=big)
        assert large.status == 201, await large.text()
        assert (await large.json())["size"] > 3_000_000
        too_big = await gp.api("POST", f"{API}/{rid}/attachments?name=huge.pdf", data=b"%PDF-1.4" + b"0" * (11 << 20))
        assert too_big.status == 413
        blobs = list((live_server.settings.data_dir / "expertise-blobs").rglob("*"))
        stored = [p.read_bytes() for p in blobs if p.is_file()]
        assert len(stored) == 3 and all(PNG_1x1 not in s and b"%PDF" not in s for s in stored)

        assert (await near.api("POST", f"{API}/{rid}/accept")).status == 200
        download = await near.api("GET", f"{API}/{rid}/attachments/{attachment['id']}")
        assert download.status == 200
        stored = Image.open(io.BytesIO(await download.read()))  # re-encoded: the same pixels
        assert stored.format == "PNG" and stored.tobytes() == Image.open(io.BytesIO(PNG_1x1)).tobytes()
        assert download.headers["Content-Type"] == "image/png"
        info = await near.api("POST", f"{API}/{rid}/info-request", json={"text": "Dermoscopie disponible ?"})
        assert info.status == 201
        assert (await (await gp.api("GET", f"{API}/{rid}")).json())["status"] == "info_requested"
        assert (await gp.api("POST", f"{API}/{rid}/info", json={"text": "Oui, jointe."})).status == 201
        answer = await near.api("POST", f"{API}/{rid}/answer", json={
            "opinion": "Naevus bénin", "recommendations": "Surveillance annuelle", "consultation_needed": "none"})
        assert answer.status == 200 and (await answer.json())["answer"]["opinion"] == "Naevus bénin"
        thread = await (await gp.api("GET", f"{API}/{rid}/messages")).json()
        assert [m["kind"] for m in thread["messages"]] == ["info_request", "info_reply"]
        closed = await gp.api("POST", f"{API}/{rid}/close", json={"referral_avoided": True})
        assert (await closed.json())["status"] == "closed"
        again = await gp.api("POST", f"{API}/{rid}/close", json={"referral_avoided": True})
        assert again.status == 409 and "from closed to closed" in (await again.json())["message"]
    finally:
        await gp.session.close()
        await near.session.close()
    async with live_server.app[db_key]() as session:
        raw = repr((await session.execute(text("SELECT * FROM expertise_messages"))).all())
        raw += repr((await session.execute(text("SELECT * FROM expertise_requests"))).all())
    assert "Dermoscopie" not in raw and "Naevus" not in raw and "Durand" not in raw
    assert ids


async def test_access_control_and_reassignment_revoke_access(live_server: Any) -> None:
    await _people(live_server)
    gp, gp2, near, far = [await _login(live_server, n) for n in ("gpone", "gptwo", "near", "far")]
    try:
        rid = (await _create(gp))["id"]
        upload = await gp.api("POST", f"{API}/{rid}/attachments?name=a.png", data=PNG_1x1)
        aid = (await upload.json())["id"]
        # Another requester and the specialist it was not offered to: not found, in lists and by id.
        for other in (gp2, far):
            assert (await other.api("GET", f"{API}/{rid}")).status == 404
            assert (await other.api("GET", f"{API}/{rid}/attachments/{aid}")).status == 404
            assert (await (await other.api("GET", API)).json())["requests"] == []
        assert (await gp2.api("POST", f"{API}/{rid}/cancel")).status == 404
        # The offered specialist sees it, the requester too; the specialist cannot cancel it.
        assert (await near.api("GET", f"{API}/{rid}/attachments/{aid}")).status == 200
        assert (await near.api("POST", f"{API}/{rid}/cancel")).status == 403
        listed = (await (await near.api("GET", API + "?role=expert&status=offered")).json())["requests"]
        assert [r["id"] for r in listed] == [rid]
        assert (await (await near.api("GET", API + "?status=closed")).json())["requests"] == []
        # Decline: the next specialist gets it, the previous one loses access to the request and its files.
        assert (await near.api("POST", f"{API}/{rid}/decline", json={"reason": "congés"})).status == 200
        assert (await near.api("GET", f"{API}/{rid}")).status == 404
        assert (await near.api("GET", f"{API}/{rid}/attachments/{aid}")).status == 404
        assert (await far.api("GET", f"{API}/{rid}/attachments/{aid}")).status == 200
        assert (await near.api("POST", f"{API}/{rid}/accept")).status == 404
    finally:
        for browser in (gp, gp2, near, far):
            await browser.session.close()
    async with live_server.app[db_key]() as session:
        denied = list(await session.scalars(select(AuditEntry.action).where(
            AuditEntry.result == "denied", AuditEntry.object == f"expertise:{rid}")))
        reads = list(await session.scalars(select(AuditEntry.actor).where(
            AuditEntry.action == "expertise.attachment.read", AuditEntry.result == "ok")))
    assert "expertise.attachment.read" in denied and "expertise.read" in denied and len(denied) >= 7
    assert len(reads) == 2  # every download is audited


async def test_a_patient_session_cannot_reach_requests(live_server: Any) -> None:
    await _people(live_server)
    async with await _login(live_server, "gpone") as gp:
        rid = (await _create(gp))["id"]
        consultation = await new_consultation(gp)
    patient = await join_as_patient(live_server, consultation["link"]["url"])
    try:
        for method, path in (("GET", API), ("GET", f"{API}/{rid}"), ("POST", API), ("POST", f"{API}/{rid}/cancel"),
                             ("GET", f"/fhir/Task/{rid}"), ("GET", "/fhir/ServiceRequest"),
                             ("GET", "/api/expertise/metrics")):
            response = await patient.api(method, path, json={} if method == "POST" else None)
            assert response.status in (401, 403), (path, response.status)
    finally:
        await patient.session.close()


async def test_the_offered_specialist_is_notified_over_socketio(live_server: Any) -> None:
    await _people(live_server)
    gp, near = await _login(live_server, "gpone"), await _login(live_server, "near")
    client = socketio.AsyncClient(http_session=near.session, reconnection=False)
    received: asyncio.Queue[Any] = asyncio.Queue()
    client.on("request", received.put, namespace="/expertise")
    try:
        await client.connect(live_server.url, namespaces=["/expertise"], transports=["websocket"],
                             headers={"Cookie": near.cookie_header(), "Origin": live_server.url}, wait_timeout=10)
        rid = (await _create(gp))["id"]
        notice = await asyncio.wait_for(received.get(), 10)
        assert notice == {"request": rid, "event": "request.offered", "status": "offered"}
    finally:
        await client.disconnect()
        await gp.session.close()
        await near.session.close()


async def test_socket_without_a_professional_session_is_refused(live_server: Any) -> None:
    client = socketio.AsyncClient(reconnection=False, ssl_verify=False)
    try:
        await client.connect(live_server.url, namespaces=["/expertise"], transports=["websocket"],
                             headers={"Origin": live_server.url}, wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        pass
    else:
        raise AssertionError("an anonymous socket joined /expertise")
    finally:
        await client.disconnect()
