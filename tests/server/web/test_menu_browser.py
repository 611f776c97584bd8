"""The professional's menu in real Chromium: a practitioner (in French, then in English chosen with the language
switch on the login page) and a specialist (in English) log in, land on their home, reach each of their jobs
through the menu's words, and log out with the header's button."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.keys import accounts_key
from server.platform import i18n
from tests.conftest import IN_CI
from tests.e2e.lab import CHROMIUM, CHROMIUM_FLAGS

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
# Per account: its home, then each menu label with the page it leads to.
TOURS = {
    "medecin": ("/console", (("nav_my_requests", "/expertise?role=requester"), ("nav_regulation", "/regulation"),
                             ("nav_consultations", "/console"))),
    "specialiste": ("/expertise", (("nav_profile", "/directory/profile"), ("nav_expertise", "/expertise"))),
}


async def _tour(page: Any, url: str, username: str, lang: str) -> None:
    home, jobs = TOURS[username]
    t = i18n.translator(lang)
    await page.goto(f"{url}/login")
    if lang == "en":  # the browser asks for French: switch once, the choice is kept on the next pages
        await page.click("#lang-switch")
        await page.wait_for_url(f"{url}/login?lang=en")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}{home}")
    assert await page.get_attribute("html", "lang") == lang
    menu = page.locator("#jobs")
    for label_key, path in jobs:
        await menu.get_by_role("link", name=t(label_key), exact=True).click()
        await page.wait_for_url(f"{url}{path}")
        assert await page.get_attribute("html", "lang") == lang
        assert await menu.locator("[aria-current=page]").text_content() == t(label_key)
        assert await page.locator("#user-name").text_content() == f"Dr {username}"
    await page.get_by_role("button", name=t("logout"), exact=True).click()
    await page.wait_for_url(f"{url}/login")
    await page.goto(f"{url}{home}")
    await page.wait_for_url(f"{url}/login")  # the session is over
    assert await page.get_attribute("html", "lang") == lang


async def test_a_professional_reaches_each_job_through_the_menu_and_logs_out(live_server: Any) -> None:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("chromium is required in CI")
        pytest.skip("Debian's chromium is not installed")
    from playwright.async_api import async_playwright

    for username, role in (("medecin", "practitioner"), ("specialiste", "specialist")):
        await live_server.app[accounts_key].create(username, PASSWORD, f"Dr {username}", role)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for username, lang in (("medecin", "fr"), ("medecin", "en"), ("specialiste", "en")):
                context = await browser.new_context(ignore_https_errors=True, locale="fr-FR")
                page = await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc, seen=errors: seen.append(str(exc)))
                await _tour(page, live_server.url, username, lang)
                assert errors == []
                await context.close()
        finally:
            await browser.close()
