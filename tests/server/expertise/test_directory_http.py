"""The directory over HTTP: a professional's own expertise profile (access control, CSRF, audit) and the FHIR R4
read/search endpoints, whose JSON is validated with the fhir.resources models."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from sqlalchemy import select

from expertise import Directory, RejectFile, import_rpps
from expertise.models import Activity
from server.keys import accounts_key
from server.platform.models import AuditEntry
from tests.fakes import Browser

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "PS_LibreAcces_Personne_activite_202612010000.txt"
PASSWORD = "correct horse battery"


async def load_sample(db: Any, live_server: Any) -> list[Activity]:
    engine, sessions = db
    await import_rpps(engine, SAMPLE, now=live_server.clock.now(), rejects=RejectFile(io.StringIO()))
    async with sessions() as session:
        return list((await session.scalars(select(Activity).where(Activity.specialty_code.is_not(None))
                                           .order_by(Activity.rpps, Activity.position))).all())


async def specialist(live_server: Any, username: str, rpps: str | None) -> None:
    await live_server.app[accounts_key].create(username, PASSWORD, f"Dr {username}", "specialist", rpps=rpps)


async def test_a_linked_specialist_sets_the_profile_routing_uses(db: Any, live_server: Any) -> None:
    doctors = await load_sample(db, live_server)
    me = doctors[0]
    await specialist(live_server, "moreau", me.rpps)
    directory = Directory(db[1])
    now = live_server.clock.now()
    async with Browser(live_server) as browser:
        await browser.login("moreau", PASSWORD)
        initial = await (await browser.api("GET", "/api/directory/profile")).json()
        assert initial["capacity"] == 0 and initial["specialties"] == []
        assert me.specialty_code in [s["code"] for s in initial["held_specialties"]]
        assert await directory.candidates(me.specialty_code or "", me.commune, now) == []

        response = await browser.api("PUT", "/api/directory/profile", json={
            "capacity": 4, "languages": ["fr", "en"], "specialties": [me.specialty_code]})
        assert response.status == 200, await response.text()
        assert (await response.json())["languages"] == ["en", "fr"]
        found = await directory.candidates(me.specialty_code or "", me.commune, now, language="en")
        assert [(c.rpps, c.capacity, c.proximity) for c in found] == [(me.rpps, 4, 0)]

        response = await browser.api("POST", "/api/directory/profile/absences", json={
            "starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat(),
            "note": "congrès"})
        assert response.status == 201, await response.text()
        absence = await response.json()
        assert await directory.candidates(me.specialty_code or "", me.commune, now) == []
        profile = await (await browser.api("GET", "/api/directory/profile")).json()
        assert [a["id"] for a in profile["absences"]] == [absence["id"]]
        response = await browser.api("DELETE", f"/api/directory/profile/absences/{absence['id']}")
        assert response.status == 200
        assert len(await directory.candidates(me.specialty_code or "", me.commune, now)) == 1

    async with db[1]() as session:
        actions = [(e.action, e.result) for e in await session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert ("directory.profile.update", "ok") in actions and ("directory.absence.remove", "ok") in actions


async def test_profile_access_is_checked_on_every_request(db: Any, live_server: Any) -> None:
    doctors = await load_sample(db, live_server)
    mine, theirs = doctors[0], next(d for d in doctors if d.rpps != doctors[0].rpps)
    await specialist(live_server, "moreau", mine.rpps)
    await specialist(live_server, "other", theirs.rpps)
    await specialist(live_server, "unlinked", None)
    now = live_server.clock.now()
    window = {"starts_at": (now + timedelta(days=1)).isoformat(), "ends_at": (now + timedelta(days=2)).isoformat()}

    async with Browser(live_server) as anonymous:
        assert (await anonymous.api("GET", "/api/directory/profile")).status == 401
    async with Browser(live_server) as unlinked:
        await unlinked.login("unlinked", PASSWORD)
        response = await unlinked.api("GET", "/api/directory/profile")
        assert response.status == 403 and "RPPS" in (await response.json())["message"]
    async with Browser(live_server) as other:
        await other.login("other", PASSWORD)
        theirs_absence = await (await other.api("POST", "/api/directory/profile/absences", json=window)).json()
    async with Browser(live_server) as me:
        await me.login("moreau", PASSWORD)
        no_csrf = await me.session.put("/api/directory/profile", json={"capacity": 2})
        assert no_csrf.status == 403
        for bad in ({"capacity": 999}, {"capacity": "3"}, {"capacity": 2, "languages": ["french"]},
                    {"capacity": 2, "specialties": ["SM99"]}):
            response = await me.api("PUT", "/api/directory/profile", json=bad)
            assert response.status == 400, bad
        backwards = {"starts_at": window["ends_at"], "ends_at": window["starts_at"]}
        assert (await me.api("POST", "/api/directory/profile/absences", json=backwards)).status == 400
        naive = {"starts_at": "2030-01-01T10:00:00", "ends_at": "2030-01-02T10:00:00"}
        assert (await me.api("POST", "/api/directory/profile/absences", json=naive)).status == 400
        # Another professional's absence cannot be removed (nor told apart from a missing one).
        response = await me.api("DELETE", f"/api/directory/profile/absences/{theirs_absence['id']}")
        assert response.status == 404
    async with Browser(live_server) as other:
        await other.login("other", PASSWORD)
        profile = await (await other.api("GET", "/api/directory/profile")).json()
        assert [a["id"] for a in profile["absences"]] == [theirs_absence["id"]]
    async with db[1]() as session:
        denied = (await session.scalars(select(AuditEntry).where(AuditEntry.result == "denied",
                                                                 AuditEntry.action.like("directory.%")))).all()
    assert len(denied) == 1


async def test_fhir_endpoints_return_valid_r4_resources(db: Any, live_server: Any) -> None:
    doctors = await load_sample(db, live_server)
    await specialist(live_server, "moreau", None)
    one = doctors[0]
    async with Browser(live_server) as anonymous:
        response = await anonymous.session.get(f"/fhir/Practitioner/{one.rpps}")
        assert response.status == 401
        OperationOutcome.model_validate(await response.json(content_type=None))
    async with Browser(live_server) as browser:
        await browser.login("moreau", PASSWORD)
        response = await browser.session.get(f"/fhir/Practitioner/{one.rpps}")
        assert response.status == 200 and response.content_type == "application/fhir+json"
        practitioner = Practitioner.model_validate(await response.json(content_type=None))
        assert practitioner.id == one.rpps
        assert {i.value for i in practitioner.identifier or []} == {one.rpps, "8" + one.rpps}

        response = await browser.session.get("/fhir/Practitioner", params={"identifier": f"8{one.rpps}"})
        bundle = Bundle.model_validate(await response.json(content_type=None))
        assert bundle.type == "searchset" and bundle.total == 1
        assert bundle.entry is not None and bundle.entry[0].resource.id == one.rpps  # type: ignore[union-attr]

        params = {"specialty": one.specialty_code or "", "address-postalcode": one.postal_code or ""}
        response = await browser.session.get("/fhir/PractitionerRole", params=params)
        bundle = Bundle.model_validate(await response.json(content_type=None))
        expected = [d for d in doctors if d.specialty_code == one.specialty_code and d.postal_code == one.postal_code]
        assert bundle.total == len(expected) >= 1
        for entry in bundle.entry or []:
            role = PractitionerRole.model_validate(entry.resource.model_dump())  # type: ignore[union-attr]
            assert role.specialty and role.specialty[0].coding[0].code == one.specialty_code  # type: ignore[index]

        response = await browser.session.get("/fhir/PractitionerRole", params={"commune": one.commune or ""})
        by_commune = Bundle.model_validate(await response.json(content_type=None))
        assert by_commune.total and by_commune.total >= 1

        for bad in ({"name": "x"}, {}, {"specialty": "x" * 200}, {"specialty": "SM04", "_count": "1000"}):
            response = await browser.session.get("/fhir/PractitionerRole", params=bad)
            assert response.status == 400, bad
            OperationOutcome.model_validate(await response.json(content_type=None))
        assert (await browser.session.get("/fhir/Practitioner/99999999999")).status == 404
        assert (await browser.session.get("/fhir/Practitioner/abc")).status == 404


async def test_profile_page_shows_the_own_profile_or_why_not(db: Any, live_server: Any) -> None:
    doctors = await load_sample(db, live_server)
    await specialist(live_server, "moreau", doctors[0].rpps)
    await specialist(live_server, "unlinked", None)
    async with Browser(live_server) as anonymous:
        response = await anonymous.session.get("/directory/profile", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/login"
    async with Browser(live_server) as browser:
        await browser.login("moreau", PASSWORD)
        page = await (await browser.session.get("/directory/profile")).text()
        assert f"RPPS {doctors[0].rpps}" in page and 'id="profile-form"' in page
        assert f'value="{doctors[0].specialty_code}"' in page
    async with Browser(live_server) as browser:
        await browser.login("unlinked", PASSWORD)
        page = await (await browser.session.get("/directory/profile")).text()
        assert 'id="profile-not-linked"' in page and 'id="profile-form"' not in page
