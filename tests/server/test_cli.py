"""The ``lucarne`` command line against a real database: audit verification and account creation."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from server.keys import db_key
from tests.fakes import Browser, make_user, new_consultation, open_link

ROOT = Path(__file__).resolve().parents[2]


def lucarne(args: list[str], database_url: str, tmp_path: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LUCARNE_DATABASE_URL": database_url, "LUCARNE_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run([sys.executable, "-m", "server", *args], input=stdin, env=env, cwd=ROOT,
                          capture_output=True, timeout=60)


async def test_audit_verify_detects_a_modified_and_a_deleted_entry(live_server: Any, database_url: str,
                                                                   tmp_path: Path) -> None:
    await make_user(live_server)
    async with Browser(live_server) as doctor:
        await doctor.login()
        created = await new_consultation(doctor)
        await doctor.api("GET", f"/api/consultations/{created['consultation']['id']}")
    intact = lucarne(["audit", "verify"], database_url, tmp_path)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert b"OK" in intact.stdout

    async with live_server.app[db_key].begin() as session:
        await session.execute(text("UPDATE audit_entries SET result = 'denied' WHERE seq = 2"))
    modified = lucarne(["audit", "verify"], database_url, tmp_path)
    assert modified.returncode == 1 and b"entry 2 was modified" in modified.stdout

    async with live_server.app[db_key].begin() as session:
        await session.execute(text("UPDATE audit_entries SET result = 'ok' WHERE seq = 2"))
        await session.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    deleted = lucarne(["audit", "verify"], database_url, tmp_path)
    assert deleted.returncode == 1 and b"entry 3" in deleted.stdout and b"missing" in deleted.stdout


async def test_create_user_then_log_in(live_server: Any, database_url: str, tmp_path: Path) -> None:
    created = lucarne(["create-user", "dr.martin", "--name", "Dr Martin"], database_url, tmp_path,
                      stdin=b"a long enough password\n")
    assert created.returncode == 0, created.stderr
    async with Browser(live_server) as browser:
        assert (await browser.login("dr.martin", "a long enough password")).status == 303
    too_short = lucarne(["create-user", "dr.x", "--name", "X"], database_url, tmp_path, stdin=b"short\n")
    assert too_short.returncode == 2 and b"password" in too_short.stderr and b"Traceback" not in too_short.stderr


async def test_patient_page_speaks_the_consultation_language(live_server: Any) -> None:
    await make_user(live_server)
    async with Browser(live_server) as doctor:
        await doctor.login()
        starts = (live_server.clock.now() + timedelta(hours=1)).isoformat()
        response = await doctor.api("POST", "/api/consultations", json={
            "patient_name": "John Smith", "scheduled_at": starts, "language": "en"})
        link = (await response.json())["link"]
        assert "Video consultation" in link["sms_text"]
        async with Browser(live_server) as patient:
            path = link["url"].removeprefix(live_server.url)
            landing = await patient.session.get(path, headers={"Accept-Language": "fr-FR"})
            assert '<html lang="en">' in await landing.text()
            assert (await open_link(patient, link["url"])).status == 303
            page = await patient.session.get("/visit", headers={"Accept-Language": "fr-FR"})
            html = await page.text()
            assert '<html lang="en">' in html and "Let&#39;s check your camera" in html
