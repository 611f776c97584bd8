"""The development CA: chain, names, idempotence, renewal, key permissions and a real TLS handshake."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography import x509

from server.certs import ensure_dev_certs, local_hosts
from server.tls import client_ssl_context, server_ssl_context


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_certificate_is_issued_by_the_ca_for_the_requested_names(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, ["localhost", "127.0.0.1", "192.0.2.7"])
    server, ca = _cert(paths.server_cert), _cert(paths.ca_cert)
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("192.0.2.7") in names.get_values_for_type(x509.IPAddress)
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days <= 398
    for key in (paths.ca_key, paths.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_second_call_changes_nothing_and_a_new_host_reissues_only_the_server(tmp_path: Path) -> None:
    first = ensure_dev_certs(tmp_path, ["localhost"])
    ca_bytes, server_bytes = first.ca_cert.read_bytes(), first.server_cert.read_bytes()
    ensure_dev_certs(tmp_path, ["localhost"])
    assert first.server_cert.read_bytes() == server_bytes
    ensure_dev_certs(tmp_path, ["localhost", "lucarne.lan"])
    assert first.ca_cert.read_bytes() == ca_bytes
    assert first.server_cert.read_bytes() != server_bytes


def test_a_certificate_close_to_expiry_is_renewed(tmp_path: Path) -> None:
    old = datetime.now(UTC) - timedelta(days=380)
    paths = ensure_dev_certs(tmp_path, ["localhost"], now=old)
    ensure_dev_certs(tmp_path, ["localhost"])
    assert _cert(paths.server_cert).not_valid_after_utc > datetime.now(UTC) + timedelta(days=300)


def test_local_hosts_always_include_loopback() -> None:
    hosts = local_hosts()
    assert "localhost" in hosts and "127.0.0.1" in hosts


async def test_real_tls_handshake_verifies_hostname(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, ["localhost", "127.0.0.1"])
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="secure")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(paths.server_cert, paths.server_key))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        connector = aiohttp.TCPConnector(ssl=client_ssl_context(paths.ca_cert))
        async with aiohttp.ClientSession(connector=connector) as http, http.get(f"https://localhost:{port}/") as response:
            assert await response.text() == "secure"
    finally:
        await runner.cleanup()
