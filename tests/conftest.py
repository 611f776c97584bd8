"""Shared fixtures: real databases (SQLite always; PostgreSQL and Redis when configured, mandatory under CI)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.platform.db import SessionFactory, open_database
from server.platform.migrate import upgrade

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("LUCARNE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("LUCARNE_TEST_REDIS_URL", "")


def require_service(url: str, name: str) -> str:
    """Return the service URL, skip outside CI when it is not configured, fail inside CI."""
    if url:
        return url
    if IN_CI:
        pytest.fail(f"{name} must be configured in CI (set its LUCARNE_TEST_* variable)")
    pytest.skip(f"{name} not configured")


async def reset_postgres(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    return require_service(PG_URL, "PostgreSQL")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[tuple[AsyncEngine, SessionFactory]]:
    """A migrated, empty database: engine and session factory."""
    async with open_database(database_url) as (engine, sessions):
        if engine.dialect.name == "postgresql":
            await reset_postgres(engine)
        await upgrade(engine)
        yield engine, sessions


# -- a real server on an ephemeral HTTPS port ----------------------------------------------------------------
import secrets  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import tempfile  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from aiohttp import web  # noqa: E402

from server.app import create_app  # noqa: E402
from server.config import Settings  # noqa: E402
from server.platform.clock import ManualClock  # noqa: E402


@dataclass
class LiveServer:
    url: str
    app: web.Application
    settings: Settings
    clock: ManualClock
    client_ssl: ssl.SSLContext


@pytest.fixture(scope="session")
def test_certs(tmp_path_factory: pytest.TempPathFactory) -> object:
    from server.platform.certs import ensure_dev_certs

    return ensure_dev_certs(tmp_path_factory.mktemp("certs"), ["localhost", "127.0.0.1"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_settings(database_url: str, port: int, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": secrets.token_bytes(48),
        "master_key": secrets.token_bytes(32),
        "public_url": f"https://localhost:{port}",
        "host": "127.0.0.1",
        "port": port,
        # Server-side WebRTC peers offer loopback only: tests never send media anywhere else.
        "media_hosts": ("127.0.0.1",),
        "data_dir": Path(tempfile.mkdtemp(prefix="lucarne-data-")),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def serve(settings: Settings, certs: object) -> AsyncIterator[LiveServer]:
    """Run the application built from ``settings`` on its port (for tests that need settings of their own)."""
    from server.platform.tls import client_ssl_context, server_ssl_context

    clock = ManualClock()
    app = create_app(settings, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", settings.port,
                       ssl_context=server_ssl_context(certs.server_cert, certs.server_key))  # type: ignore[attr-defined]
    await site.start()
    try:
        yield LiveServer(settings.public_url, app, settings, clock, client_ssl_context(certs.ca_cert))  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


@pytest.fixture
async def live_server(db: tuple[AsyncEngine, SessionFactory], database_url: str, test_certs: object) -> AsyncIterator[LiveServer]:
    async with serve(make_settings(database_url, free_port()), test_certs) as server:
        yield server
