"""A real ``python -m server run`` process: WebSocket only, and SIGTERM finishes promptly with clients connected."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.config import LimitSettings
from server.identity.accounts import Accounts
from server.platform.clock import SystemClock
from server.platform.db import open_database
from server.platform.tls import client_ssl_context
from tests.conftest import free_port
from tests.fakes import Browser, SocketPeer
from tests.server.test_multiprocess import _wait_healthy

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Process:
    url: str
    client_ssl: Any
    process: subprocess.Popen[bytes]


@pytest.fixture
async def server_process(tmp_path: Path, test_certs: Any) -> AsyncIterator[Process]:
    port = free_port()
    env = {
        **os.environ,
        "LUCARNE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'lucarne.db'}",
        "LUCARNE_VAR_DIR": str(tmp_path / "var"),
        "LUCARNE_CERT_DIR": str(Path(test_certs.server_cert).parent),
        "LUCARNE_PUBLIC_URL": f"https://localhost:{port}",
        "LUCARNE_HOST": "127.0.0.1",
        "LUCARNE_PORT": str(port),
        "LUCARNE_SECRET_KEY": base64.b64encode(secrets.token_bytes(48)).decode(),
        "LUCARNE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    process = subprocess.Popen([sys.executable, "-m", "server", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = Process(f"https://localhost:{port}", client_ssl_context(test_certs.ca_cert), process)
    try:
        await _wait_healthy(node.url, node.client_ssl, node.process)  # it has migrated the database by then
        async with open_database(env["LUCARNE_DATABASE_URL"]) as (_, sessions):
            await Accounts(sessions, SystemClock(), LimitSettings()).create(
                "drhouse", "correct horse battery", "Dr House", "practitioner")
        yield node
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


async def test_polling_is_refused_at_once_and_sigterm_exits_within_10_s_with_clients_connected(
    server_process: Process,
) -> None:
    node = server_process
    async with Browser(node) as doctor:
        assert (await doctor.login()).status == 303
        peers = [await SocketPeer.connect(doctor) for _ in range(4)]
        assert (await peers[0].call("join", {"instance": "d"}))["ok"] is False  # connected and served
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=node.client_ssl)) as http:
            # Long-polling (whose oversized POST python-engineio 4.15 never answers) is refused at once, open
            # or post, before a session exists or a body is read.
            async with asyncio.timeout(5):
                async with http.get(f"{node.url}/socket.io/?EIO=4&transport=polling") as response:
                    assert response.status == 400 and "transport" in await response.text()
                async with http.post(f"{node.url}/socket.io/?EIO=4&transport=polling&sid=x",
                                     data=b"4" + b"x" * 200_000) as response:
                    assert response.status == 400
        # A raw WebSocket that never answers the close handshake must not hold the shutdown up either.
        raw = await doctor.session.ws_connect(f"{node.url.replace('https', 'wss')}/socket.io/?EIO=4&transport=websocket",
                                              headers={"Origin": node.url})
        started = time.monotonic()
        node.process.send_signal(signal.SIGTERM)
        while node.process.poll() is None and time.monotonic() - started < 15:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        assert node.process.poll() is not None and elapsed < 10, f"still running after {elapsed:.1f} s"
        assert node.process.returncode == 0  # a graceful exit, not a kill
        await raw.close()
        for peer in peers:
            await peer.client.disconnect()
