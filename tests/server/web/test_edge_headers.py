"""Response headers on real responses: no server software disclosed anywhere (pages, API, errors, static files,
the HTTP parser's own 400), and nothing under /api/ or /fhir/ (health data) may be cached."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fakes import Browser, make_user, new_consultation

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _no_software(server_header: str | None) -> bool:
    return server_header is not None and not any(word in server_header.lower() for word in ("python", "aiohttp"))


async def _raw_request(server: Any, request: bytes) -> bytes:
    address = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port, ssl=server.client_ssl,
                                                   server_hostname="localhost")
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read(4096)
    finally:
        writer.close()


async def test_no_response_names_the_server_software(live_server: Any) -> None:
    await make_user(live_server)
    async with Browser(live_server) as doctor:
        assert (await doctor.login()).status == 303
        created = await new_consultation(doctor)
        for path, status in (("/login", 200), ("/console", 200), ("/api/consultations", 200),
                             (f"/api/consultations/{created['consultation']['id']}", 200),
                             ("/api/consultations/" + "0" * 32, 404), ("/nowhere", 404),
                             ("/static/css/app.css", 200), ("/fhir/Practitioner?identifier=10000000001", 200)):
            response = await doctor.session.get(path)
            assert response.status == status, path
            assert _no_software(response.headers.get("Server")), (path, response.headers.get("Server"))
        head = await doctor.session.head("/static/css/app.css")
        assert _no_software(head.headers.get("Server"))
    malformed = await _raw_request(live_server, b"GET /\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head_lines = malformed.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head_lines.startswith("http/1.") and " 400 " in head_lines.split("\r\n")[0]
    assert "aiohttp" not in head_lines and "python" not in head_lines


async def test_api_and_fhir_responses_are_never_stored(live_server: Any) -> None:
    await make_user(live_server)
    async with Browser(live_server) as doctor:
        assert (await doctor.login()).status == 303
        created = await new_consultation(doctor)
        cid = created["consultation"]["id"]
        for method, path in (("GET", "/api/consultations"), ("GET", f"/api/consultations/{cid}"),
                             ("GET", f"/api/consultations/{cid}/links"), ("GET", f"/api/consultations/{cid}/chat"),
                             ("GET", "/api/consultations/" + "0" * 32), ("GET", "/api/cases"),
                             ("GET", "/fhir/Practitioner?identifier=10000000001"), ("GET", "/fhir/ServiceRequest"),
                             ("POST", f"/api/consultations/{cid}/links")):
            response = await doctor.api(method, path, json={"role": "guest"} if method == "POST" else None)
            assert response.status < 500, path
            assert response.headers.get("Cache-Control") == "no-store", (path, response.headers.get("Cache-Control"))
        for page in ("/console", f"/console/c/{cid}"):  # pages showing health data
            assert (await doctor.session.get(page)).headers.get("Cache-Control") == "no-store"
    async with Browser(live_server) as anonymous:  # refusals too
        refused = await anonymous.session.get("/api/consultations")
        assert refused.status == 401 and refused.headers.get("Cache-Control") == "no-store"
