"""Two server processes sharing PostgreSQL and Redis: a patient on one, the practitioner on the other."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.platform.db import open_database
from server.platform.migrate import upgrade
from server.platform.tls import client_ssl_context
from tests.conftest import PG_URL, REDIS_URL, free_port, require_service, reset_postgres
from tests.fakes import Browser, SocketPeer, join_as_patient, new_consultation

ROOT = Path(__file__).resolve().parents[2]
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}


@dataclass
class Node:
    url: str
    client_ssl: Any
    process: subprocess.Popen[bytes]


@pytest.fixture
def cluster_env(tmp_path: Path, test_certs: Any) -> Iterator[dict[str, str]]:
    pg = require_service(PG_URL, "PostgreSQL")
    redis = require_service(REDIS_URL, "Redis")
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "LUCARNE_DATABASE_URL": pg,
        "LUCARNE_REDIS_URL": redis,
        "LUCARNE_SECRET_KEY": base64.b64encode(secrets.token_bytes(48)).decode(),
        "LUCARNE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "LUCARNE_CERT_DIR": str(Path(test_certs.server_cert).parent),
        "LUCARNE_PUBLIC_URL": f"https://localhost:{ports[0]}",
        "LUCARNE_ALLOWED_ORIGINS": f"https://localhost:{ports[1]}",
        "LUCARNE_HOST": "127.0.0.1",
        "LUCARNE_VAR_DIR": str(tmp_path / "var"),
        "PORTS": f"{ports[0]},{ports[1]}",
    }
    yield env


async def _wait_healthy(url: str, ssl_context: Any, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context)) as http:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


@pytest.fixture
async def cluster(cluster_env: dict[str, str], test_certs: Any) -> AsyncIterator[list[Node]]:
    async with open_database(cluster_env["LUCARNE_DATABASE_URL"]) as (engine, _):
        await reset_postgres(engine)
        await upgrade(engine)
    created = subprocess.run(
        [sys.executable, "-m", "server", "create-user", "drhouse", "--name", "Dr House"],
        input=b"correct horse battery\n", env=cluster_env, cwd=ROOT, capture_output=True, check=True,
    )
    assert b"created practitioner drhouse" in created.stdout
    ssl_context = client_ssl_context(test_certs.ca_cert)
    nodes: list[Node] = []
    try:
        for port in cluster_env["PORTS"].split(","):
            process = subprocess.Popen([sys.executable, "-m", "server", "run"], cwd=ROOT,
                                       env={**cluster_env, "LUCARNE_PORT": port},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            nodes.append(Node(f"https://localhost:{port}", ssl_context, process))
            await _wait_healthy(nodes[-1].url, ssl_context, process)
        yield nodes
    finally:
        for node in nodes:
            node.process.terminate()
        for node in nodes:
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()


async def test_signaling_crosses_processes_through_redis_and_postgres(cluster: list[Node]) -> None:
    first, second = cluster
    async with Browser(first) as doctor:
        assert (await doctor.login()).status == 303
        created = await new_consultation(doctor)
        cid = created["consultation"]["id"]
        # The link names the first node; the patient's phone reaches the second one.
        patient = await join_as_patient(second, second.url + created["link"]["url"].split(first.url, 1)[1])
        doc_sock = await SocketPeer.connect(doctor)
        pat_sock = await SocketPeer.connect(patient)
        try:
            doc_id = (await doc_sock.call("join", {"consultation": cid, "instance": "d"}))["me"]
            pat_id = (await pat_sock.call("join", {"instance": "p"}))["me"]
            await pat_sock.call("ready")
            room = await doc_sock.next("waiting-room")
            while not any(p["id"] == pat_id and p["state"] == "waiting" for p in room["participants"]):
                room = await doc_sock.next("waiting-room")
            assert (await doc_sock.call("admit", {"participant": pat_id}))["ok"]
            await pat_sock.next("admitted")
            await doc_sock.call("enter")
            assert [p["id"] for p in (await pat_sock.call("enter"))["peers"]] == [doc_id]
            assert (await doc_sock.next("peer-joined"))["id"] == pat_id
            ack = await doc_sock.call("signal", {"to": pat_id, "data": {"description": OFFER}})
            assert ack == {"ok": True, "delivered": True}
            assert (await pat_sock.next("signal"))["from"] == doc_id
            await pat_sock.call("chat", {"text": "vous m'entendez ?"})
            assert (await doc_sock.next("chat"))["text"] == "vous m'entendez ?"
            await _logout_closes_the_sessions_socket_on_the_other_node(doctor, second, cid)
        finally:
            await doc_sock.close()
            await pat_sock.close()
            await patient.session.close()



async def _logout_closes_the_sessions_socket_on_the_other_node(doctor: Browser, other: Node, cid: str) -> None:
    """Issue #9 High 1 across real processes (sharing this cluster, which is slow to start): the logout notice goes
    through Redis to the node holding another socket of the same session, which closes it within a second."""
    sock = await SocketPeer.connect(doctor, url=other.url)
    try:
        assert (await sock.call("join", {"consultation": cid, "instance": "d2"}))["ok"]
        assert (await doctor.api("POST", "/logout", allow_redirects=False)).status == 303
        async with asyncio.timeout(1.0):
            while "/call" in sock.client.namespaces:
                await asyncio.sleep(0.02)
    finally:
        await sock.close()
