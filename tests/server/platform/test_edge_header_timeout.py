"""A client trickling its request head is closed within the header bound; a normal client is served
(issue #9, slowloris). Real server socket over TLS, with the options the serving process uses."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from server.app import create_app
from server.config import LimitSettings
from server.platform.clock import ManualClock
from server.platform.runtime import http_server_options
from server.platform.tls import client_ssl_context, server_ssl_context
from tests.conftest import free_port, make_settings

BOUND_S = 1.0
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@contextlib.asynccontextmanager
async def _serving(database_url: str, test_certs: Any, limits: LimitSettings) -> AsyncIterator[tuple[int, Any]]:
    """The app on a real TLS socket with the HTTP options the serving process uses."""
    port = free_port()
    settings = replace(make_settings(database_url, port), limits=limits)
    runner = web.AppRunner(create_app(settings, clock=ManualClock()), access_log=None,
                           **http_server_options(settings.limits.header_timeout_s))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl_context(test_certs.server_cert,
                                                                                 test_certs.server_key))
    await site.start()
    try:
        yield port, client_ssl_context(test_certs.ca_cert)
    finally:
        await runner.cleanup()


@pytest.fixture
async def bounded_server(db: Any, database_url: str, test_certs: Any) -> AsyncIterator[tuple[int, Any]]:
    async with _serving(database_url, test_certs, LimitSettings(header_timeout_s=BOUND_S)) as served:
        yield served


async def _connect(port: int, ssl: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=ssl, server_hostname="localhost")


async def _trickle(port: int, ssl: Any) -> float:
    """Send one header line every 0.3 s; the time until the server closes the connection."""
    reader, writer = await _connect(port, ssl)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
    try:
        for number in range(30):
            await asyncio.sleep(0.3)
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(f"X-Trickle-{number}: {'a' * 20}\r\n".encode())
            await writer.drain()
            if reader.at_eof():
                break
        async with asyncio.timeout(3):
            leftover = await reader.read()  # EOF once the server closed
        assert b"200 OK" not in leftover
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started


async def test_a_client_trickling_headers_is_closed_within_the_bound(bounded_server: tuple[int, Any]) -> None:
    port, ssl = bounded_server
    durations = await asyncio.gather(*(_trickle(port, ssl) for _ in range(5)))
    assert all(duration < BOUND_S + 1.0 for duration in durations), durations

    # A normal client, even one sending its head in two parts, is served on the same server.
    reader, writer = await _connect(port, ssl)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
    await asyncio.sleep(BOUND_S / 3)
    writer.write(b"Connection: close\r\n\r\n")
    async with asyncio.timeout(3):
        response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 200 OK") and b'"ok"' in response


async def test_each_request_of_a_kept_alive_connection_gets_the_bound_again(
        bounded_server: tuple[int, Any]) -> None:
    port, ssl = bounded_server
    reader, writer = await _connect(port, ssl)
    for _ in range(2):  # a second request on the same connection, after a pause shorter than the bound
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        async with asyncio.timeout(3):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
        await asyncio.sleep(BOUND_S / 2)
    started = time.monotonic()
    async with asyncio.timeout(BOUND_S + 2):
        assert await reader.read() == b""  # then an idle connection is closed at the bound
    assert time.monotonic() - started < BOUND_S + 1.0
    writer.close()


@pytest.fixture
async def slow_body_server(db: Any, database_url: str, test_certs: Any) -> AsyncIterator[tuple[int, Any]]:
    async with _serving(database_url, test_certs, LimitSettings(body_timeout_s=BOUND_S)) as served:
        yield served


async def test_a_json_body_trickled_in_is_answered_408_within_the_bound(slow_body_server: tuple[int, Any]) -> None:
    port, ssl = slow_body_server
    reader, writer = await _connect(port, ssl)
    started = time.monotonic()
    writer.write(b"POST /api/consultations HTTP/1.1\r\nHost: localhost\r\nOrigin: https://localhost:%d\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{" % port)
    await writer.drain()
    trickle = asyncio.create_task(_send_slowly(writer))
    try:
        async with asyncio.timeout(BOUND_S + 2):
            head = await reader.readuntil(b"\r\n\r\n")
    finally:
        trickle.cancel()
        writer.close()
    assert head.startswith(b"HTTP/1.1 408") and time.monotonic() - started < BOUND_S + 1.0


async def _send_slowly(writer: asyncio.StreamWriter) -> None:
    while True:
        await asyncio.sleep(0.2)
        writer.write(b" ")
        await writer.drain()
