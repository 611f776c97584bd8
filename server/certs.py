"""Development certificate authority: a local CA and a server certificate naming this machine's addresses,
so phones on the same Wi-Fi can open the HTTPS pages (camera access needs a secure context).

Production deployments use a real certificate instead (``LUCARNE_CERT_DIR``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertPaths", "ensure_dev_certs", "local_hosts", "describe"]

logger = logging.getLogger(__name__)

_SERVER_DAYS = 397  # browsers refuse longer-lived server certificates
_RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class CertPaths:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def local_hosts() -> list[str]:
    """localhost, loopback, the host name and the LAN addresses of interfaces that are up (no packet sent)."""
    hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    try:
        hosts += _interface_addresses()
    except (OSError, ValueError, subprocess.SubprocessError):
        logger.info("could not list interface addresses; the certificate names loopback only")
    return list(dict.fromkeys(hosts))


def _interface_addresses() -> list[str]:
    if shutil.which("ip") is None:
        return [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
    output = subprocess.run(["ip", "-j", "addr"], capture_output=True, check=True, timeout=5).stdout
    found = []
    for interface in json.loads(output):
        if "UP" not in interface.get("flags", []):
            continue
        for info in interface.get("addr_info", []):
            address = ipaddress.ip_address(info["local"])
            if not (address.is_loopback or address.is_link_local):
                found.append(str(address))
    return found


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _load(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not (paths.ca_cert.exists() and paths.ca_key.exists()):
        return None
    key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return x509.load_pem_x509_certificate(paths.ca_cert.read_bytes()), key


def _new_ca(paths: CertPaths, now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lucarne development CA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lucarne (development only)")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(paths.ca_key, key)
    paths.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    logger.info("created development CA %s", paths.ca_cert)
    return cert, key


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _server_is_current(paths: CertPaths, ca: x509.Certificate, hosts: Sequence[str], now: datetime) -> bool:
    if not (paths.server_cert.exists() and paths.server_key.exists()):
        return False
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - now < _RENEW_BEFORE:
        return False
    present = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    return set(_san(hosts)) <= present


def _new_server(paths: CertPaths, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                hosts: Sequence[str], now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=_SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(paths.server_key, key)
    paths.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    logger.info("issued server certificate for %s", ", ".join(hosts))


def ensure_dev_certs(cert_dir: Path, hosts: Sequence[str], *, now: datetime | None = None) -> CertPaths:
    """Create the CA once and (re)issue the server certificate when missing, expiring or not naming ``hosts``."""
    now = now or datetime.now(UTC)
    cert_dir.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(cert_dir / "ca.pem", cert_dir / "ca-key.pem", cert_dir / "server.pem",
                      cert_dir / "server-key.pem")
    loaded = _load(paths)
    ca, ca_key = loaded if loaded else _new_ca(paths, now)
    if not _server_is_current(paths, ca, hosts, now):
        _new_server(paths, ca, ca_key, list(hosts), now)
    return paths


def describe(paths: CertPaths) -> str:
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    listed = ", ".join(str(getattr(name, "value", name)) for name in names)
    return (f"server certificate for {listed}; valid until {cert.not_valid_after_utc:%Y-%m-%d}.\n"
            f"To use a phone on this network, install and trust {paths.ca_cert} (see certs/README.md).")
