"""The demo behind ``make run``: its shipped directory, and a first request from the demo GP routed, over real
HTTPS, to the demo specialist; a second seeding changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from expertise.rpps_format import STANDARD_HEADER
from server.demo import DEMO_ACCOUNTS, DEMO_PROFILES, DEMO_SPECIALTY, seed_demo
from server.demo.seed import demo_extract
from server.keys import accounts_key, db_key, directory_key
from server.platform.db import SessionFactory
from server.platform.models import AuditEntry
from tests.expertise.requests_support import http_body, seed_professional
from tests.fakes import Browser

API = "/api/expertise/requests"
ACCOUNTS = {username: (password, rpps) for username, _, _, password, rpps in DEMO_ACCOUNTS}
TABLES = ("users", "directory_professionals", "directory_activities", "expertise_profiles",
          "expertise_profile_languages", "expertise_profile_specialties", "audit_entries")


async def _seed(server: Any, engine: AsyncEngine) -> Any:
    return await seed_demo(engine, server.app[db_key], server.clock, server.settings.limits)


async def _login(server: Any, username: str) -> Browser:
    browser = Browser(server)
    assert (await browser.login(username, ACCOUNTS[username][0])).status == 303
    return browser


async def _counts(sessions: SessionFactory) -> dict[str, int]:
    async with sessions() as session:
        return {table: int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                for table in TABLES}


def test_the_shipped_demo_directory_is_a_national_extract_of_a_few_dozen_professionals() -> None:
    lines = demo_extract().read_text(encoding="utf-8").splitlines()
    assert lines[0].split("|")[:-1] == STANDARD_HEADER
    rows = [line.split("|") for line in lines[1:]]
    assert all(len(row) == len(STANDARD_HEADER) + 1 for row in rows)
    column = {name: i for i, name in enumerate(STANDARD_HEADER)}
    people = {row[column["Identifiant PP"]] for row in rows}
    specialties = {row[column["Code savoir-faire"]] for row in rows} - {""}
    departements = {row[column["Code Département (structure)"]] for row in rows}
    assert len(people) >= 30 and len(specialties) >= 6 and len(departements) >= 8
    assert {rpps for _, _, _, _, rpps in DEMO_ACCOUNTS if rpps} | {rpps for rpps, *_ in DEMO_PROFILES} <= people


async def test_the_demo_gps_first_request_reaches_the_demo_specialist(
        live_server: Any, db: tuple[AsyncEngine, SessionFactory]) -> None:
    seeded = await _seed(live_server, db[0])
    assert seeded.directory is not None and seeded.directory.inserted >= 30 and seeded.directory.rejected == 0
    assert set(seeded.accounts) == set(ACCOUNTS) and set(seeded.linked) == {"medecin", "specialiste"}
    specialist_rpps = ACCOUNTS["specialiste"][1]
    candidates = await live_server.app[directory_key].candidates(DEMO_SPECIALTY, None, live_server.clock.now())
    assert [c.rpps for c in candidates] == [specialist_rpps]

    gp, specialist = await _login(live_server, "medecin"), await _login(live_server, "specialiste")
    try:
        response = await gp.api("POST", API, json=http_body(specialty=DEMO_SPECIALTY, commune="13055"))
        assert response.status == 201, await response.text()
        created = await response.json()
        assert created["status"] == "offered" and created["assigned_rpps"] == specialist_rpps
        offered = await (await specialist.api("GET", API + "?role=expert&status=offered")).json()
        assert [r["id"] for r in offered["requests"]] == [created["id"]]
        accepted = await specialist.api("POST", f"{API}/{created['id']}/accept")
        assert accepted.status == 200 and (await accepted.json())["status"] == "accepted"
    finally:
        await gp.session.close()
        await specialist.session.close()


async def test_a_second_seeding_changes_nothing(live_server: Any, db: tuple[AsyncEngine, SessionFactory]) -> None:
    first = await _seed(live_server, db[0])
    before = await _counts(live_server.app[db_key])
    again = await _seed(live_server, db[0])
    assert first.changed and not again.changed
    assert again.summary() == ["demo already in place: nothing changed"]
    assert await _counts(live_server.app[db_key]) == before
    assert before["users"] == len(DEMO_ACCOUNTS) and before["expertise_profiles"] == len(DEMO_PROFILES)
    async with live_server.app[db_key]() as session:  # who became routable is audited, as for any import
        audited = list(await session.scalars(select(AuditEntry.object).where(
            AuditEntry.action == "directory.routing.change", AuditEntry.actor == "cli:demo")))
    assert len(audited) == len(DEMO_PROFILES) and any(DEMO_SPECIALTY in line for line in audited)


async def test_an_older_demo_database_gets_its_directory_and_links(
        live_server: Any, db: tuple[AsyncEngine, SessionFactory]) -> None:
    for username, name, role, password, _ in DEMO_ACCOUNTS:  # as the previous `make run` created them
        await live_server.app[accounts_key].create(username, password, name, role)
    seeded = await _seed(live_server, db[0])
    assert seeded.accounts == () and seeded.directory is not None
    assert set(seeded.linked) == {"medecin", "specialiste"}
    assert (await live_server.app[accounts_key].find("specialiste")).rpps == ACCOUNTS["specialiste"][1]  # type: ignore[union-attr]


async def test_a_real_directory_is_left_alone(live_server: Any, db: tuple[AsyncEngine, SessionFactory]) -> None:
    sessions = live_server.app[db_key]
    await seed_professional(sessions, "20000000001")  # an operator's own directory, already imported
    seeded = await _seed(live_server, db[0])
    assert seeded.directory is None and seeded.linked == () and seeded.profiles == ()
    assert set(seeded.accounts) == set(ACCOUNTS)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(text("directory_professionals"))) == 1
