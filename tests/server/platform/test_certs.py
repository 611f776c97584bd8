"""The development CA and TLS contexts: chain, extensions, names, idempotence, renewal, key permissions, address
discovery and a real TLS handshake with host name verification."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server.platform.certs import CertPaths, describe, ensure_dev_certs, local_hosts
from server.platform.tls import client_ssl_context, server_ssl_context

HOSTS = ["localhost", "lucarne.lan", "127.0.0.1", "::1", "192.0.2.7"]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _snapshot(paths: CertPaths) -> dict[str, tuple[bytes, int]]:
    files = (paths.ca_cert, paths.ca_key, paths.server_cert, paths.server_key)
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in files}


def _names(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_server_certificate_is_issued_by_the_ca_for_the_requested_names(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, HOSTS)
    server, ca = _cert(paths.server_cert), _cert(paths.ca_cert)
    server.verify_directly_issued_by(ca)
    names = _names(server)
    assert set(names.get_values_for_type(x509.DNSName)) == {"localhost", "lucarne.lan"}
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(host) for host in ("127.0.0.1", "::1", "192.0.2.7")}
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert server.not_valid_after_utc - server.not_valid_before_utc <= timedelta(days=397)
    authority = server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert authority.key_identifier == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def test_the_ca_is_a_long_lived_signing_only_authority(tmp_path: Path) -> None:
    ca = _cert(ensure_dev_certs(tmp_path, ["localhost"]).ca_cert)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert constraints.critical and constraints.value.ca
    assert usage.key_cert_sign and usage.crl_sign
    assert "Lucarne development CA" in ca.subject.rfc4514_string()
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= timedelta(days=3649)
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"


def test_private_keys_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, ["localhost"])
    for key in (paths.ca_key, paths.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_second_call_leaves_every_file_untouched(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, HOSTS)
    before = _snapshot(paths)
    ensure_dev_certs(tmp_path, HOSTS)
    ensure_dev_certs(tmp_path, ["LOCALHOST", "0:0::1"])  # same names, written differently
    assert _snapshot(paths) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ca-key.pem", "ca.pem", "server-key.pem", "server.pem"]


def test_a_new_host_reissues_the_server_certificate_and_keeps_the_ca(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, ["localhost"])
    before = _snapshot(paths)
    ensure_dev_certs(tmp_path, ["localhost", "198.51.100.4"])
    after = _snapshot(paths)
    assert after["ca.pem"] == before["ca.pem"] and after["ca-key.pem"] == before["ca-key.pem"]
    assert after["server.pem"][0] != before["server.pem"][0]
    server = _cert(paths.server_cert)
    server.verify_directly_issued_by(_cert(paths.ca_cert))
    assert ipaddress.ip_address("198.51.100.4") in _names(server).get_values_for_type(x509.IPAddress)


def test_a_certificate_close_to_expiry_is_renewed(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, ["localhost"], now=datetime.now(UTC) - timedelta(days=380))
    ca_before = paths.ca_cert.read_bytes()
    assert _cert(paths.server_cert).not_valid_after_utc < datetime.now(UTC) + timedelta(days=30)
    ensure_dev_certs(tmp_path, ["localhost"])
    assert _cert(paths.server_cert).not_valid_after_utc > datetime.now(UTC) + timedelta(days=390)
    assert paths.ca_cert.read_bytes() == ca_before


def test_a_certificate_signed_by_another_ca_is_replaced(tmp_path: Path) -> None:
    mine = ensure_dev_certs(tmp_path / "mine", ["localhost"])
    other = ensure_dev_certs(tmp_path / "other", ["localhost"])
    shutil.copy(other.server_cert, mine.server_cert)
    shutil.copy(other.server_key, mine.server_key)
    ensure_dev_certs(tmp_path / "mine", ["localhost"])
    _cert(mine.server_cert).verify_directly_issued_by(_cert(mine.ca_cert))


def test_a_certificate_from_another_issuer_is_never_replaced(tmp_path: Path) -> None:
    foreign = ensure_dev_certs(tmp_path / "foreign", ["example.org"])
    key = serialization.load_pem_private_key(foreign.ca_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Public CA")])
    now = datetime.now(UTC)
    real = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=90))
            .sign(key, hashes.SHA256()))
    production = tmp_path / "production"
    production.mkdir()
    (production / "server.pem").write_bytes(real.public_bytes(serialization.Encoding.PEM))
    shutil.copy(foreign.ca_key, production / "server-key.pem")
    before = {path.name: path.read_bytes() for path in production.iterdir()}
    ensure_dev_certs(production, ["localhost"])
    assert {path.name: path.read_bytes() for path in production.iterdir()} == before


def test_a_server_key_that_does_not_match_the_certificate_is_replaced(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, ["localhost"])
    stranger = ec.generate_private_key(ec.SECP256R1())
    paths.server_key.write_bytes(stranger.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    ensure_dev_certs(tmp_path, ["localhost"])
    key = serialization.load_pem_private_key(paths.server_key.read_bytes(), password=None)
    assert key.public_key() == _cert(paths.server_cert).public_key()
    assert stat.S_IMODE(paths.server_key.stat().st_mode) == 0o600


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ensure_dev_certs(tmp_path, [])
    with pytest.raises(ValueError):
        ensure_dev_certs(tmp_path, ["localhost"], now=datetime(2030, 1, 1))  # noqa: DTZ001 -- naive on purpose


def test_describe_names_the_hosts_the_expiry_and_the_ca(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, HOSTS)
    text = describe(paths)
    for host in HOSTS:
        assert host in text
    assert str(paths.ca_cert) in text
    assert f"{_cert(paths.server_cert).not_valid_after_utc:%Y-%m-%d}" in text


def test_local_hosts_always_include_loopback_and_never_link_local_addresses() -> None:
    hosts = local_hosts()
    assert hosts[:2] == ["localhost", "127.0.0.1"]
    assert len(hosts) == len(set(hosts))
    for host in hosts:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            continue
        assert not address.is_link_local


async def _https_server(paths: CertPaths) -> AsyncIterator[int]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="secure")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(paths.server_cert, paths.server_key))
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def _fetch(url: str, ca_cert: Path) -> str:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(ca_cert))
    async with aiohttp.ClientSession(connector=connector) as http, http.get(url) as response:
        return await response.text()


@pytest.fixture
async def localhost_only(tmp_path: Path) -> AsyncIterator[tuple[CertPaths, int]]:
    paths = ensure_dev_certs(tmp_path, ["localhost"])
    async for port in _https_server(paths):
        yield paths, port


async def test_a_real_tls_handshake_verifies_the_chain_and_host_name(localhost_only: tuple[CertPaths, int]) -> None:
    paths, port = localhost_only
    assert await _fetch(f"https://localhost:{port}/", paths.ca_cert) == "secure"


async def test_a_name_missing_from_the_certificate_is_rejected(localhost_only: tuple[CertPaths, int]) -> None:
    paths, port = localhost_only
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _fetch(f"https://127.0.0.1:{port}/", paths.ca_cert)


async def test_a_client_trusting_another_ca_is_rejected(localhost_only: tuple[CertPaths, int],
                                                        tmp_path: Path) -> None:
    _, port = localhost_only
    other = ensure_dev_certs(tmp_path / "other", ["localhost"])
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _fetch(f"https://localhost:{port}/", other.ca_cert)


def test_both_contexts_refuse_protocols_older_than_tls_1_2(tmp_path: Path) -> None:
    paths = ensure_dev_certs(tmp_path, ["localhost"])
    server = server_ssl_context(paths.server_cert, paths.server_key)
    client = client_ssl_context(paths.ca_cert)
    assert server.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED
