"""Issue #10 item 1: each role lands on its own work after login; every professional page carries one header with
the role's jobs (in words), the user's name, a logout form with the CSRF token and the language switch; the
language chosen with the switch is kept on every page, the patient's too."""

from __future__ import annotations

import re
from typing import Any

import pytest

from server.identity.accounts import ROLES
from server.keys import accounts_key
from server.platform import i18n
from tests.fakes import Browser, join_as_patient, new_consultation

PASSWORD = "correct horse battery"
HOMES = {"practitioner": "/console", "regulator": "/regulation", "specialist": "/expertise", "admin": "/admin"}
JOBS = {
    "practitioner": ("/console", "/expertise?role=requester", "/regulation"),
    "regulator": ("/regulation",),
    "specialist": ("/expertise", "/directory/profile"),
    "admin": ("/admin", "/expertise/metrics"),
}
LABELS = {"/console": "nav_consultations", "/expertise?role=requester": "nav_my_requests",
          "/regulation": "nav_regulation", "/expertise": "nav_expertise", "/directory/profile": "nav_profile",
          "/admin": "nav_admin", "/expertise/metrics": "nav_indicators"}


async def _accounts(server: Any) -> None:
    for role in ROLES:
        await server.app[accounts_key].create(f"demo-{role}", PASSWORD, f"Nom {role}", role)


async def _login(server: Any, role: str, lang: str) -> tuple[Browser, str]:
    browser = Browser(server)
    response = await browser.session.post("/login", data={"username": f"demo-{role}", "password": PASSWORD},
                                          headers={"Accept-Language": lang}, allow_redirects=False)
    assert response.status == 303
    return browser, response.headers["Location"]


def _header(page: str) -> str:
    match = re.search(r'<header class="topbar">(.*?)</header>', page, re.S)
    assert match, "the page has the header"
    return match.group(1)


def _assert_header(page: str, role: str, lang: str) -> None:
    header, t = _header(page), i18n.translator(lang)
    links = re.findall(r'<a href="([^"]+)" data-job="[^"]+"[^>]*>([^<]+)</a>', header)
    assert links == [(path.replace("&", "&amp;"), t(LABELS[path]).replace("'", "&#39;")) for path in JOBS[role]]
    assert f'id="user-name">Nom {role}</span>' in header
    assert re.search(r'<form method="post" action="/logout"[^>]*>\s*<input type="hidden" name="csrf" value="[^"]+">'
                     r'\s*<button type="submit" id="logout" class="link">' + re.escape(t("logout")), header)
    assert t("language_switch") in header
    assert f'<html lang="{lang}">' in page


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("role", ROLES)
async def test_each_role_lands_on_its_home_and_every_page_carries_its_menu(live_server: Any, role: str,
                                                                          lang: str) -> None:
    await live_server.app[accounts_key].create(f"demo-{role}", PASSWORD, f"Nom {role}", role)
    browser, home = await _login(live_server, role, lang)
    async with browser:
        assert home == HOMES[role]
        assert (await browser.session.get("/", allow_redirects=False)).headers["Location"] == HOMES[role]
        for path in JOBS[role]:
            response = await browser.session.get(path, headers={"Accept-Language": lang})
            assert response.status == 200, path
            page = await response.text()
            _assert_header(page, role, lang)
            current = re.findall(r'<a href="([^"]+)" data-job="[^"]+" aria-current="page"', page)
            assert current == [path.replace("&", "&amp;")]


async def test_other_professional_pages_carry_the_header_too(live_server: Any) -> None:
    await _accounts(live_server)
    browser, _ = await _login(live_server, "practitioner", "en")
    async with browser:
        console = await (await browser.session.get("/console")).text()
        browser.csrf = re.findall(r'name="csrf" value="([^"]+)"', console)[0]
        created = await new_consultation(browser)
        for path in (f"/console/c/{created['consultation']['id']}", "/expertise/metrics", "/directory/profile"):
            page = await (await browser.session.get(path, headers={"Accept-Language": "en"})).text()
            _assert_header(page, "practitioner", "en")


async def test_the_admin_page_says_what_exists_and_is_for_administrators_only(live_server: Any) -> None:
    await _accounts(live_server)
    admin, _ = await _login(live_server, "admin", "fr")
    async with admin:
        page = await (await admin.session.get("/admin")).text()
        assert "lucarne create-user" in page and i18n.translator("fr")("admin_later").replace("'", "&#39;") in page
    regulator, _ = await _login(live_server, "regulator", "en")
    async with regulator:
        refused = await regulator.session.get("/admin", headers={"Accept-Language": "en"})
        assert refused.status == 403 and "for administrators only" in await refused.text()
    async with Browser(live_server) as anonymous:
        assert (await anonymous.session.get("/admin", allow_redirects=False)).headers["Location"] == "/login"


async def test_the_language_switched_once_is_kept_on_every_page(live_server: Any) -> None:
    await _accounts(live_server)
    browser, _ = await _login(live_server, "practitioner", "fr")
    async with browser:
        french = {"Accept-Language": "fr-FR,fr;q=0.9"}
        assert '<html lang="fr">' in await (await browser.session.get("/console", headers=french)).text()
        switched = await browser.session.get("/console?lang=en", headers=french)
        assert '<html lang="en">' in await switched.text()
        for path in ("/console", "/regulation", "/expertise?role=requester"):
            page = await (await browser.session.get(path, headers=french)).text()
            assert '<html lang="en">' in page, path
            _assert_header(page, "practitioner", "en")
        assert 'id="lang-switch" href="?role=requester&amp;lang=fr"' in page  # the switch keeps the filters
        browser.csrf = re.findall(r'name="csrf" value="([^"]+)"', page)[0]
        created = await new_consultation(browser)  # its links speak French
        patient = Browser(live_server)
        async with patient:
            await patient.session.get("/login?lang=en", headers=french)  # the patient's browser switched once
            landing = await patient.session.get(created["link"]["url"].removeprefix(live_server.url), headers=french)
            assert '<html lang="en">' in await landing.text()
        visitor = await join_as_patient(live_server, created["link"]["url"])
        async with visitor:
            visit = await (await visitor.session.get("/visit?lang=en")).text()
            assert '<html lang="en">' in visit and 'id="jobs"' not in visit  # no professional menu
            assert '<html lang="en">' in await (await visitor.session.get("/visit")).text()
        async with Browser(live_server) as caller:  # the caller's pages too
            await caller.session.get("/login?lang=en", headers=french)
            refused = await caller.session.get("/c/not-a-link", headers=french)
            assert refused.status == 400 and '<html lang="en">' in await refused.text()
        async with Browser(live_server) as newcomer:  # another browser has not chosen: Accept-Language decides
            assert '<html lang="fr">' in await (await newcomer.session.get("/login", headers=french)).text()
