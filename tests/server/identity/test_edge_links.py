"""Join and caller links are used only by a person's deliberate step (issue #9): GET and HEAD, which link-preview
fetchers send, answer a landing page and use nothing; the page's button POSTs, and that uses the link. A patient
link opens only a configurable time before the appointment."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from tests.fakes import Browser, make_user, new_consultation, open_link

PREVIEW_FETCHERS = (
    "WhatsApp/2.23.20.0 A",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "TelegramBot (like TwitterBot)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage
)
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _doctor(server: Any) -> Browser:
    await make_user(server)
    browser = Browser(server)
    assert (await browser.login()).status == 303
    return browser


async def _previews_leave_it_alone(server: Any, path: str, token: str) -> None:
    """Every preview fetcher's GET and a HEAD see the landing page, which uses the link nowhere."""
    async with Browser(server) as bot:
        for agent in PREVIEW_FETCHERS:
            for method in ("GET", "HEAD"):
                response = await bot.session.request(method, path, headers={"User-Agent": agent},
                                                     allow_redirects=False)
                assert response.status == 200, (agent, method, response.status)
                assert response.headers["Cache-Control"] == "no-store"
                assert response.headers["Referrer-Policy"] == "no-referrer"
                assert "Set-Cookie" not in response.headers
                if method == "GET":
                    page = await response.text()
                    assert 'id="link-form"' in page and 'method="post"' in page
                    urls = re.findall(r'(?:src|href|action)="([^"]*)"', page)
                    assert urls and not any(token in url for url in urls), urls


async def test_preview_fetchers_and_head_leave_a_join_link_usable_once(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        created = await new_consultation(doctor)
        url = created["link"]["url"]
        path, token = url.removeprefix(live_server.url), url.rsplit("/", 1)[1]
        await _previews_leave_it_alone(live_server, path, token)
        links = await (await doctor.api("GET", f"/api/consultations/{created['consultation']['id']}/links")).json()
        assert links["links"][0]["exchanged"] is False
        async with Browser(live_server) as patient:
            joined = await open_link(patient, url)
            assert joined.status == 303 and joined.headers["Location"] == "/visit"
            assert (await patient.session.get("/visit")).status == 200
        async with Browser(live_server) as late:
            again = await late.session.post(path, data={}, allow_redirects=False)
            assert again.status == 410 and "<html" in await again.text()
            assert (await late.session.get(path)).status == 410  # the page now says it was used


@SQLITE_ONLY
async def test_the_link_is_used_only_by_a_post_from_our_own_page(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        url = (await new_consultation(doctor))["link"]["url"]
        path = url.removeprefix(live_server.url)
        async with Browser(live_server) as other:
            foreign = await other.session.post(path, data={}, headers={"Origin": "https://evil.example"},
                                               allow_redirects=False)
            assert foreign.status == 403
        async with Browser(live_server) as patient:
            assert (await open_link(patient, url)).status == 303  # still unused


@SQLITE_ONLY
async def test_the_landing_page_speaks_the_link_language(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        french = (await new_consultation(doctor))["link"]["url"]
        starts = (live_server.clock.now() + timedelta(hours=1)).isoformat()
        english = (await (await doctor.api("POST", "/api/consultations", json={
            "patient_name": "John Smith", "scheduled_at": starts, "language": "en"})).json())["link"]["url"]
        async with Browser(live_server) as phone:
            page = await (await phone.session.get(french.removeprefix(live_server.url),
                                                  headers={"Accept-Language": "en"})).text()
            assert '<html lang="fr">' in page and "Rejoindre la consultation" in page
            assert 'name="viewport"' in page
            page = await (await phone.session.get(english.removeprefix(live_server.url))).text()
            assert '<html lang="en">' in page and "Join the consultation" in page
            assert "John" not in page and "Dr drhouse" not in page  # a preview shows nobody's name


async def test_preview_fetchers_do_not_bind_a_caller_link(live_server: Any) -> None:
    await make_user(live_server, "regulateur", role="regulator")
    async with Browser(live_server) as regulator:
        assert (await regulator.login("regulateur")).status == 303
        body = await (await regulator.api("POST", "/api/cases", json={
            "case_number": "2026-0001", "caller_phone": "+33600000000", "reason": ""})).json()
        url = body["link"]["url"]
        path, token = url.removeprefix(live_server.url), url.rsplit("/", 1)[1]
        await _previews_leave_it_alone(live_server, path, token)
        async with Browser(live_server) as phone, Browser(live_server) as other_phone:
            opened = await open_link(phone, url)
            assert opened.status == 303 and opened.headers["Location"] == "/caller"
            assert (await phone.session.get("/caller")).status == 200
            assert (await open_link(other_phone, url)).status == 409  # the link belongs to the caller's phone


@SQLITE_ONLY
async def test_a_patient_link_opens_only_shortly_before_the_appointment(live_server: Any) -> None:
    window = timedelta(seconds=live_server.settings.link_opens_before_s)
    async with await _doctor(live_server) as doctor:
        starts = live_server.clock.now() + timedelta(days=90)
        created = await (await doctor.api("POST", "/api/consultations", json={
            "patient_name": "Jeanne Patient", "scheduled_at": starts.isoformat(), "language": "fr"})).json()
        url = created["link"]["url"]
        path = url.removeprefix(live_server.url)
        async with Browser(live_server) as patient:
            early = await patient.session.get(path)
            page = await early.text()
            assert early.status == 403 and "s&#39;ouvrira le" in page and str((starts - window).year) in page
            assert "Revenez" in page
            assert (await patient.session.post(path, data={}, allow_redirects=False)).status == 403
            live_server.clock.advance(days=90, seconds=-window.total_seconds() + 60)
            assert (await open_link(patient, url)).status == 303


def test_the_window_is_configurable(tmp_path: Path) -> None:
    env = {"LUCARNE_SECRET_KEY": "c2VjcmV0" * 8, "LUCARNE_MASTER_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="}
    assert Settings.from_env(env, var_dir=tmp_path).link_opens_before_s == 24 * 3600
    assert Settings.from_env({**env, "LUCARNE_LINK_OPENS_BEFORE": "3600"}, var_dir=tmp_path).link_opens_before_s == 3600


@SQLITE_ONLY
async def test_a_browser_with_a_session_opens_a_link_through_the_same_page(live_server: Any) -> None:
    """A professional testing a patient link in their own browser: the page carries their CSRF token."""
    async with await _doctor(live_server) as doctor:
        url = (await new_consultation(doctor))["link"]["url"]
        page = await (await doctor.session.get(url.removeprefix(live_server.url))).text()
        assert 'name="csrf"' in page
        without_token = await doctor.session.post(url.removeprefix(live_server.url), data={}, allow_redirects=False)
        assert without_token.status == 403  # a logged-in browser's POST needs its page's token
        joined = await open_link(doctor, url)
        assert joined.status == 303 and joined.headers["Location"] == "/visit"
