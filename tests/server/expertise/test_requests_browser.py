"""The request pages in real Chromium: a GP sends a request through the form (CSP: scripts from 'self' only), the
specialist's open list page shows the live notice, then accepts on the request page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.keys import accounts_key, db_key
from tests.conftest import IN_CI
from tests.e2e.lab import CHROMIUM, CHROMIUM_FLAGS
from tests.expertise.requests_support import login_page, seed_professional

pytestmark = pytest.mark.browser



async def test_gp_sends_a_request_and_the_specialist_is_told_live(live_server: Any) -> None:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("chromium is required in CI")
        pytest.skip("Debian's chromium is not installed")
    from playwright.async_api import async_playwright

    sessions, accounts = live_server.app[db_key], live_server.app[accounts_key]
    for name, rpps, accepts in (("gpone", "10000000001", False), ("near", "20000000001", True)):
        await seed_professional(sessions, rpps, accepts=accepts)
        await accounts.create(name, "correct horse battery", f"Dr {name}", "practitioner", rpps=rpps)
    url = live_server.url
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            gp_context = await browser.new_context(ignore_https_errors=True)
            expert_context = await browser.new_context(ignore_https_errors=True)
            gp, expert = await gp_context.new_page(), await expert_context.new_page()
            errors: list[str] = []
            for page in (gp, expert):
                page.on("pageerror", lambda exc: errors.append(str(exc)))
            await login_page(gp, url, "gpone")
            await login_page(expert, url, "near")
            await expert.goto(f"{url}/expertise")
            await expert.wait_for_function("() => window.io !== undefined")
            await expert.wait_for_timeout(500)  # the /expertise socket connects

            await gp.goto(f"{url}/expertise")
            form = gp.locator("#new-request")
            for field, value in (("specialty", "SM16"), ("commune", "69123"), ("question", "Lésion du dos ?"),
                                 ("family_name", "Durand"), ("given_names", "Paul"), ("birth_date", "1971-03-02")):
                await form.locator(f"[name={field}]").fill(value)
            await form.locator("button[type=submit]").click()
            error = gp.locator("#form-error")
            await error.wait_for(state="visible")
            assert "consent" in (await error.text_content() or "")  # refused without the patient's consent
            await form.locator("[name=consent]").check()
            await form.locator("button[type=submit]").click()
            await gp.wait_for_url(f"{url}/expertise/r/*")
            assert (await gp.locator("#status").get_attribute("data-status")) == "offered"
            rid = gp.url.rsplit("/", 1)[1]

            await expert.locator("#notice").wait_for(state="visible", timeout=10000)
            await expert.goto(f"{url}/expertise/r/{rid}")
            await expert.click("button[data-action=accept]")
            await expert.wait_for_function("() => document.getElementById('status').dataset.status === 'accepted'")
            await gp.locator("#notice").wait_for(state="visible", timeout=10000)  # the GP is told it was accepted
            assert errors == []
        finally:
            await browser.close()
