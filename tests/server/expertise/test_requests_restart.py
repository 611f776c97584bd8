"""Durable deadlines survive a crash: the server is SIGKILLed after a request is offered, a new process started
after the offer's deadline reassigns it exactly once, and nothing of the request is lost."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from expertise.request_models import ExpertiseRequest, RequestOffer, RequestTimer, RequestTransition
from server.config import LimitSettings
from server.identity.accounts import Accounts
from server.platform.clock import SystemClock
from server.platform.tls import client_ssl_context
from tests.conftest import free_port
from tests.expertise.requests_support import PNG_1x1, http_body, seed_professional
from tests.fakes import Browser

ROOT = Path(__file__).resolve().parents[3]
API = "/api/expertise/requests"
OFFER_SECONDS = 4


@dataclass
class Node:
    url: str
    client_ssl: Any
    process: subprocess.Popen[bytes]


@pytest.fixture
def base_env(tmp_path: Path, test_certs: Any, database_url: str) -> Iterator[dict[str, str]]:
    yield {
        **os.environ,
        "LUCARNE_DATABASE_URL": database_url,
        "LUCARNE_SECRET_KEY": base64.b64encode(secrets.token_bytes(48)).decode(),
        "LUCARNE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "LUCARNE_CERT_DIR": str(Path(test_certs.server_cert).parent),
        "LUCARNE_HOST": "127.0.0.1",
        "LUCARNE_VAR_DIR": str(tmp_path / "var"),
        "LUCARNE_MEDIA_HOSTS": "127.0.0.1",
        "LUCARNE_EXPERTISE_DEADLINES": f"routine={OFFER_SECONDS}s/1h",
        "LUCARNE_EXPERTISE_TIMER_INTERVAL": "0.2",
    }


async def _start(env: dict[str, str], test_certs: Any) -> Node:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "server", "run"], cwd=ROOT,
                               env={**env, "LUCARNE_PORT": str(port), "LUCARNE_PUBLIC_URL": f"https://localhost:{port}"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = Node(f"https://localhost:{port}", client_ssl_context(test_certs.ca_cert), process)
    import aiohttp
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=node.client_ssl)) as http:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                async with http.get(f"{node.url}/readyz") as response:
                    if response.status == 200:
                        return node
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not become ready")


def _stop(node: Node) -> None:
    if node.process.poll() is None:
        node.process.terminate()
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()


async def _state(sessions: Any, rid: str) -> dict[str, Any]:
    async with sessions() as session:
        row = await session.get(ExpertiseRequest, rid, populate_existing=True)
        assert row is not None
        return {
            "status": row.status, "assigned": row.assigned_rpps,
            "moves": list(await session.scalars(select(RequestTransition.to_state).where(
                RequestTransition.request_id == rid).order_by(RequestTransition.id))),
            "offers": [(o.rpps, o.outcome) for o in await session.scalars(
                select(RequestOffer).where(RequestOffer.request_id == rid).order_by(RequestOffer.id))],
            "timers": [(t.kind, t.claimed_by, t.result, t.due_at) for t in await session.scalars(
                select(RequestTimer).where(RequestTimer.request_id == rid).order_by(RequestTimer.id))],
        }


async def test_offer_deadline_fires_after_a_crash_and_restart_exactly_once(
        db: Any, base_env: dict[str, str], test_certs: Any) -> None:
    _, sessions = db
    accounts = Accounts(sessions, SystemClock(), LimitSettings())
    for name, rpps, commune, dep, accepts in (("gpone", "10000000001", "69123", "69", False),
                                              ("near", "20000000001", "69123", "69", True),
                                              ("far", "20000000002", "75056", "75", True)):
        await seed_professional(sessions, rpps, commune=commune, departement=dep, accepts=accepts)
        await accounts.create(name, "correct horse battery", f"Dr {name}", "practitioner", rpps=rpps)

    first = await _start(base_env, test_certs)
    try:
        async with Browser(first) as gp:
            assert (await gp.login("gpone")).status == 303
            created = await gp.api("POST", API, json=http_body())
            assert created.status == 201, await created.text()
            rid = (await created.json())["id"]
            upload = await gp.api("POST", f"{API}/{rid}/attachments?name=lesion.png", data=PNG_1x1)
            aid = (await upload.json())["id"]
    finally:
        first.process.kill()  # SIGKILL: no shutdown handler runs
        first.process.wait()
    before = await _state(sessions, rid)
    assert before["status"] == "offered" and before["assigned"] == "20000000001"
    assert [(kind, claimed, result) for kind, claimed, result, _ in before["timers"]] == [
        ("offer_expiry", "", "")], "the deadline had not fired before the crash"
    due = before["timers"][0][3]

    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)
    second = await _start(base_env, test_certs)
    try:
        for _ in range(100):
            after = await _state(sessions, rid)
            if after["assigned"] == "20000000002":
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # several more polling rounds: nothing fires twice
        after = await _state(sessions, rid)
        assert after["moves"] == ["submitted", "offered", "expired", "offered"]
        assert after["offers"] == [("20000000001", "expired"), ("20000000002", "pending")]
        (kind, claimed_by, result, _), (next_kind, next_claimed, _, next_due) = after["timers"]
        assert (kind, result, next_kind, next_claimed) == ("offer_expiry", "reassigned", "offer_expiry", "")
        assert claimed_by.endswith(f":{second.process.pid}")
        assert next_due > datetime.now(UTC)
        # Nothing lost: the new specialist reads the sealed request and its attachment through the new process.
        async with Browser(second) as far:
            assert (await far.login("far")).status == 303
            detail = await (await far.api("GET", f"{API}/{rid}")).json()
            assert "question" in detail, detail
            assert detail["question"].startswith("Lésion pigmentée") and detail["patient"]["family_name"] == "Durand"
            download = await far.api("GET", f"{API}/{rid}/attachments/{aid}")
            assert await download.read() == PNG_1x1
        async with Browser(second) as near:
            assert (await near.login("near")).status == 303
            assert (await near.api("GET", f"{API}/{rid}")).status == 404
    finally:
        _stop(second)
