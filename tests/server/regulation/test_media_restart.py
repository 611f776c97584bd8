"""Catalogue §4b 2 with a real process: the server is killed (SIGKILL) during a regulator's live view and started
again (same database, object store and keys). Acknowledged captures are still listed and downloadable, and the
caller offers again with the same session cookie from its link. Two process start-ups (about 2 s each on an
idle machine) make this the slow one; test_media_killed.py models the same case in process in about 2 s."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.config import LimitSettings
from server.identity.accounts import Accounts
from server.platform.clock import SystemClock
from server.platform.db import open_database
from server.platform.migrate import upgrade
from server.platform.tls import client_ssl_context
from tests.conftest import free_port
from tests.fakes import Browser, open_link
from tests.server.regulation.test_live import _stream_from_phone
from tests.server.test_multiprocess import Node, _wait_healthy

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def server_env(tmp_path: Path, test_certs: Any) -> dict[str, str]:
    port = free_port()
    return {
        **os.environ,
        "LUCARNE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'lucarne.db'}",
        "LUCARNE_SECRET_KEY": base64.b64encode(secrets.token_bytes(48)).decode(),
        "LUCARNE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "LUCARNE_CERT_DIR": str(Path(test_certs.server_cert).parent),
        "LUCARNE_PUBLIC_URL": f"https://localhost:{port}",
        "LUCARNE_HOST": "127.0.0.1",
        "LUCARNE_PORT": str(port),
        "LUCARNE_MEDIA_HOSTS": "127.0.0.1",
        "LUCARNE_VAR_DIR": str(tmp_path / "var"),
    }


class Process:
    """Starts ``python -m server run`` and kills it like a crash would."""

    def __init__(self, env: dict[str, str], ssl_context: Any) -> None:
        self.env, self.ssl, self.url = env, ssl_context, env["LUCARNE_PUBLIC_URL"]
        self.node: Node | None = None

    async def start(self) -> Node:
        process = subprocess.Popen([sys.executable, "-m", "server", "run"], cwd=ROOT, env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.node = Node(self.url, self.ssl, process)
        await _wait_healthy(self.node.url, self.ssl, process)
        return self.node

    def kill(self) -> None:
        if self.node is not None and self.node.process.poll() is None:
            self.node.process.kill()
            self.node.process.wait(timeout=10)


@pytest.fixture
async def server(server_env: dict[str, str], test_certs: Any) -> AsyncIterator[Process]:
    async with open_database(server_env["LUCARNE_DATABASE_URL"]) as (engine, sessions):
        await upgrade(engine)
        await Accounts(sessions, SystemClock(), LimitSettings()).create(
            "regulateur", "correct horse battery", "Dr Régulateur", "regulator")
    process = Process(server_env, client_ssl_context(test_certs.ca_cert))
    try:
        yield process
    finally:
        process.kill()


async def _capture(regulator: Browser, case_id: str) -> dict[str, Any]:
    for _ in range(100):
        response = await regulator.api("POST", f"/api/cases/{case_id}/capture")
        if response.status == 201:
            return await response.json()  # type: ignore[no-any-return]
        assert response.status in (404, 409), await response.text()  # not streaming / no frame yet
        await asyncio.sleep(0.05)
    raise AssertionError("no capture")


async def test_the_server_killed_during_a_live_view_keeps_captures_and_takes_the_caller_back(
        server: Process) -> None:
    node = await server.start()
    async with Browser(node) as regulator, Browser(node) as phone:
        await regulator.login("regulateur")
        created = await (await regulator.api("POST", "/api/cases", json={
            "case_number": "CRASH-1", "caller_phone": "+33600000000", "reason": ""})).json()
        case_id = created["case"]["id"]
        await open_link(phone, created["link"]["url"])
        phone.csrf = re.search(r'"csrf":\s*"([^"]+)"', await (await phone.session.get("/caller")).text()).group(1)  # type: ignore[union-attr]
        caller = await _stream_from_phone(phone)
        try:
            kept = await _capture(regulator, case_id)
            server.kill()  # the media (and everything else in that process) dies mid-stream
            await caller.close()
            await server.start()

            listed = await (await regulator.api("GET", f"/api/cases/{case_id}/captures")).json()
            assert kept["id"] in [capture["id"] for capture in listed["captures"]]
            image = await regulator.api("GET", f"/api/cases/{case_id}/captures/{kept['id']}.jpg")
            assert image.status == 200 and hashlib.sha256(await image.read()).hexdigest() == kept["sha256"]

            caller = await _stream_from_phone(phone)  # the same cookie: the same link and session
            assert (await _capture(regulator, case_id))["id"] != kept["id"]
        finally:
            await caller.close()

