"""Join links, login, CSRF/origin checks, security headers and the audit trail, against the real server."""

from __future__ import annotations

from typing import Any

from server.keys import db_key
from server.platform.audit import verify
from tests.fakes import Browser, join_as_patient, make_user, new_consultation


async def _doctor(server: Any) -> Browser:
    await make_user(server)
    browser = Browser(server)
    assert (await browser.login()).status == 303
    return browser


async def test_join_link_works_once_then_says_it_was_used(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        created = await new_consultation(doctor)
        first = await join_as_patient(live_server, created["link"]["url"])
        page = await first.session.get("/visit")
        assert page.status == 200
        await first.session.close()
        async with Browser(live_server) as second:
            path = created["link"]["url"].removeprefix(live_server.url)
            response = await second.session.get(path, allow_redirects=False)
            assert response.status == 410
            text = await response.text()
            assert "Traceback" not in text and "<html" in text


async def test_expired_revoked_and_tampered_links_get_clear_pages(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor, Browser(live_server) as patient:
        created = await new_consultation(doctor)
        cid, link = created["consultation"]["id"], created["link"]
        path = link["url"].removeprefix(live_server.url)

        tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
        assert (await patient.session.get(tampered, allow_redirects=False)).status == 400
        assert (await patient.session.get("/j/" + "x" * 5000, allow_redirects=False)).status in (400, 404, 414)

        revoke = await doctor.api("POST", f"/api/consultations/{cid}/links/{link['jti']}/revoke")
        assert revoke.status == 200
        assert (await patient.session.get(path, allow_redirects=False)).status == 410

        fresh = await (await doctor.api("POST", f"/api/consultations/{cid}/links", json={"role": "patient"})).json()
        live_server.clock.advance(days=3000)  # past the appointment + grace
        expired = await patient.session.get(fresh["url"].removeprefix(live_server.url), allow_redirects=False)
        assert expired.status == 410


async def test_link_comes_with_qr_ics_and_message_texts(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        created = await new_consultation(doctor)
        link = created["link"]
        assert link["url"] in link["sms_text"] and "Jeanne" not in link["sms_text"]
        qr = await doctor.api("GET", link["qr_url"])
        assert qr.status == 200 and qr.content_type == "image/svg+xml"
        ics = await doctor.api("GET", link["ics_url"])
        assert ics.status == 200 and b"BEGIN:VEVENT" in await ics.read()


async def test_state_changes_need_same_origin_and_csrf(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        body = {"patient_name": "X", "scheduled_at": "2030-01-01T10:00:00+00:00"}
        no_csrf = await doctor.session.post("/api/consultations", json=body)
        assert no_csrf.status == 403 and (await no_csrf.json())["error"] == "csrf"
        foreign = await doctor.api("POST", "/api/consultations", json=body, headers={"Origin": "https://evil.example"})
        assert foreign.status == 403 and (await foreign.json())["error"] == "bad_origin"
        good = await doctor.api("POST", "/api/consultations", json=body)
        assert good.status == 201


async def test_bad_api_input_gets_clear_errors(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        cases = [
            ({"patient_name": "", "scheduled_at": "2030-01-01T10:00:00"}, "patient_name"),
            ({"patient_name": "x" * 500, "scheduled_at": "2030-01-01T10:00:00"}, "patient_name"),
            ({"patient_name": "A", "scheduled_at": "tomorrow"}, "scheduled_at"),
            ({"patient_name": "A", "scheduled_at": "2030-01-01T10:00:00", "duration_min": "20"}, "duration_min"),
            ({"patient_name": "A", "scheduled_at": "2030-01-01T10:00:00", "patient_email": "nope"}, "patient_email"),
        ]
        for body, field in cases:
            response = await doctor.api("POST", "/api/consultations", json=body)
            assert response.status == 400
            assert field in (await response.json())["message"]
        not_json = await doctor.api("POST", "/api/consultations", data=b"{", headers={"Content-Type": "application/json"})
        assert not_json.status == 400
        huge = await doctor.api("POST", "/api/consultations", data=b"x" * 200_000,
                                headers={"Content-Type": "application/json"})
        assert huge.status == 413
        assert (await doctor.api("GET", "/api/consultations/..%2F..%2Fetc")).status == 404
        assert (await doctor.session.get("/static/../server/config.py")).status in (403, 404)


async def test_security_headers_on_pages_api_and_errors(live_server: Any) -> None:
    async with Browser(live_server) as anonymous:
        for path in ("/login", "/api/consultations", "/nowhere", "/static/css/app.css"):
            response = await anonymous.session.get(path, allow_redirects=False)
            headers = response.headers
            assert "default-src 'self'" in headers["Content-Security-Policy"], path
            assert headers["Strict-Transport-Security"].startswith("max-age=")
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "no-referrer"


async def test_login_is_rate_limited_and_cookie_is_hardened(live_server: Any) -> None:
    await make_user(live_server)
    async with Browser(live_server) as attacker:
        statuses = [(await attacker.login("drhouse", "wrong password!")).status for _ in range(6)]
        assert statuses[:5] == [401] * 5 and statuses[5] == 429
        assert (await attacker.login()).status == 429  # even the right password waits
        live_server.clock.advance(minutes=16)
        ok = await attacker.login()
        assert ok.status == 303
        cookie = ok.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


async def test_audit_log_records_access_and_denials_and_verifies(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor, Browser(live_server) as stranger:
        created = await new_consultation(doctor)
        cid = created["consultation"]["id"]
        await doctor.api("GET", f"/api/consultations/{cid}")
        await stranger.login("drhouse", "wrong password!")
        audit = live_server.app
        from server.keys import audit_key

        entries = await audit[audit_key].entries(limit=100)
        actions = {(e.action, e.result) for e in entries}
        assert {("login", "ok"), ("consultation.create", "ok"), ("consultation.read", "ok"),
                ("login", "failed")} <= actions
        report = await verify(live_server.app[db_key])
        assert report.ok and report.checked == len(entries)


async def test_clock_skew_does_not_revive_expired_sessions(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        live_server.clock.advance(seconds=live_server.settings.session_ttl_s + 1)
        response = await doctor.session.get("/console", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/login"


async def test_form_post_with_null_origin_needs_same_origin_fetch_metadata(live_server: Any) -> None:
    await make_user(live_server)
    async with Browser(live_server) as browser:
        form = {"username": "drhouse", "password": "correct horse battery"}
        forged = await browser.session.post("/login", data=form, allow_redirects=False,
                                            headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"})
        assert forged.status == 403
        genuine = await browser.session.post("/login", data=form, allow_redirects=False,
                                             headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
        assert genuine.status == 303
