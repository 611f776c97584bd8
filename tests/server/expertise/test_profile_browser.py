"""The expertise profile page in real Chromium: a specialist sets capacity, languages, accepted specialties and an
absence through the form; a reload, the JSON API and routing show what was saved; bad input gets a clear error on
the page and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from expertise import Directory
from expertise.models import Absence, SavoirFaire
from server.keys import accounts_key, db_key
from tests.conftest import IN_CI
from tests.e2e.lab import CHROMIUM, CHROMIUM_FLAGS
from tests.expertise.requests_support import DERM, login_page, seed_professional

pytestmark = pytest.mark.browser

RPPS = "20000000001"
PARIS = ZoneInfo("Europe/Paris")



async def _message(page: Any) -> tuple[str, bool]:
    """The form's status line once shown: its text and whether it is styled as an error."""
    message = page.locator("#profile-message")
    await message.wait_for(state="visible")
    return (await message.text_content() or ""), "error" in (await message.get_attribute("class") or "")


async def test_a_specialist_sets_the_profile_in_the_browser(live_server: Any) -> None:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("chromium is required in CI")
        pytest.skip("Debian's chromium is not installed")
    from playwright.async_api import async_playwright

    sessions = live_server.app[db_key]
    await seed_professional(sessions, RPPS, accepts=False)  # dermatologist (SM16) in Lyon, no profile yet
    async with sessions.begin() as session:  # a capacity from the savoir-faire file, on no activity line
        session.add(SavoirFaire(rpps=RPPS, type_code="CAPA", code="CAPA90", type_label="Capacité",
                                label="Gérontologie"))
    await live_server.app[accounts_key].create("ines", "correct horse battery", "Dr Inès", "specialist", rpps=RPPS)
    url, now = live_server.url, live_server.clock.now()
    directory = Directory(sessions)
    assert await directory.candidates(DERM, "69123", now) == []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(ignore_https_errors=True, locale="fr-FR", timezone_id="Europe/Paris")
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await login_page(page, url, "ines")
            await page.goto(f"{url}/directory/profile")
            assert RPPS in (await page.locator("#profile-name").text_content() or "")
            form = page.locator("#profile-form")
            assert await form.locator("input[value=CAPA90]").count() == 1  # held through the savoir-faire file

            # Save a profile through the form.
            await form.locator("[name=capacity]").fill("5")
            await form.locator("[name=languages]").fill("FR, en")
            await form.locator(f"input[value={DERM}]").check()
            await form.locator("input[value=CAPA90]").check()
            await page.click("#profile-save")
            assert await _message(page) == ("Profil enregistré.", False)

            # Persisted: a reload shows it, the API returns it, routing uses it.
            await page.reload()
            assert await form.locator("[name=capacity]").input_value() == "5"
            assert await form.locator("[name=languages]").input_value() == "en, fr"
            assert await form.locator(f"input[value={DERM}]").is_checked()
            assert await form.locator("input[value=CAPA90]").is_checked()
            api = await page.evaluate("() => fetch('/api/directory/profile').then((r) => r.json())")
            assert (api["capacity"], api["languages"], api["specialties"]) == (5, ["en", "fr"], ["CAPA90", DERM])
            found = await directory.candidates("CAPA90", "69123", now, language="en")
            assert [(c.rpps, c.capacity) for c in found] == [(RPPS, 5)]

            # Bad input: a clear error on the page, nothing changed.
            await form.locator("[name=languages]").fill("français")
            await form.locator("[name=capacity]").fill("2")
            await page.click("#profile-save")
            text, is_error = await _message(page)
            assert is_error and text.startswith("Langues : des codes ISO 639-1") and text.endswith(": français")
            await form.locator("[name=capacity]").fill("99")  # above the maximum: the browser refuses to submit
            assert await page.evaluate("() => document.getElementById('profile-form').checkValidity()") is False
            await page.reload()
            assert await form.locator("[name=capacity]").input_value() == "5"
            assert await form.locator("[name=languages]").input_value() == "en, fr"

            # An absence, entered in Paris local time.
            start = (now + timedelta(days=1)).astimezone(PARIS).replace(hour=8, minute=30, second=0, microsecond=0)
            end = start + timedelta(days=2)
            absence = page.locator("#absence-form")
            await absence.locator("[name=starts_at]").fill(start.strftime("%Y-%m-%dT%H:%M"))
            await absence.locator("[name=ends_at]").fill(end.strftime("%Y-%m-%dT%H:%M"))
            await absence.locator("[name=note]").fill("congrès")
            async with page.expect_navigation():
                await page.click("#absence-add")  # the page reloads with the absence listed
            listed = page.locator("#absences li")
            shown = " ".join((await listed.text_content() or "").split())
            assert await listed.count() == 1 and "congrès" in shown
            assert f"{start:%d/%m/%Y %H:%M} → {end:%d/%m/%Y %H:%M}" in shown  # Paris time, as entered
            async with sessions() as session:
                stored = (await session.scalars(select(Absence).where(Absence.rpps == RPPS))).all()
            assert [(a.starts_at, a.ends_at, a.note) for a in stored] == [(start, end, "congrès")]
            assert await directory.candidates(DERM, "69123", start + timedelta(hours=1)) == []
            assert [c.rpps for c in await directory.candidates(DERM, "69123", end)] == [RPPS]

            # An absence that ends before it starts is refused with a message.
            await absence.locator("[name=starts_at]").fill(end.strftime("%Y-%m-%dT%H:%M"))
            await absence.locator("[name=ends_at]").fill(start.strftime("%Y-%m-%dT%H:%M"))
            await page.click("#absence-add")
            text, is_error = await _message(page)
            assert is_error and "end after it starts" in text

            # Removing it.
            await page.click("#absences .remove-absence")
            await listed.first.wait_for(state="detached")
            async with sessions() as session:
                assert (await session.scalars(select(Absence).where(Absence.rpps == RPPS))).all() == []
            await page.reload()
            assert await listed.count() == 0
            assert errors == []
        finally:
            await browser.close()
