"""Development certificate authority.

A local CA and a server certificate that names this machine (loopback, host name and LAN addresses), so a phone on
the same Wi-Fi can open the HTTPS pages: browsers grant camera and microphone access to secure pages only.
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
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertPaths", "describe", "ensure_dev_certs", "local_hosts"]

logger = logging.getLogger(__name__)

_CA_NAME = "Lucarne development CA"
_ORGANISATION = "Lucarne (development only)"
_CA_LIFETIME = timedelta(days=3650)
_SERVER_LIFETIME = timedelta(days=397)  # browsers reject server certificates valid for longer than 398 days
_RENEW_BEFORE = timedelta(days=30)
_BACKDATE = timedelta(minutes=5)  # tolerate a phone whose clock is slightly behind this machine's
# Addresses of container/VM bridges are unreachable from a phone: list them last so the first LAN address is useful.
_VIRTUAL_INTERFACES = ("docker", "br-", "veth", "virbr", "vboxnet", "vmnet", "podman", "cni", "lxc", "lxdbr")

_Loaded = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
_UNREADABLE = (OSError, ValueError, TypeError, UnsupportedAlgorithm)


@dataclass(frozen=True)
class CertPaths:
    """Where the development CA and the server certificate and their private keys live."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


# --- which names the certificate must carry -------------------------------------------------------------------------


def local_hosts() -> list[str]:
    """Names under which this machine can be reached: loopback, host name and the LAN addresses of interfaces that
    are up, without sending any packet. Never raises: on error the loopback names and the host name remain."""
    hosts = ["localhost", "127.0.0.1", "::1"]
    try:
        hosts.append(socket.gethostname())
        hosts += _interface_addresses()
    except Exception:  # a development convenience must never keep the server from starting
        logger.warning("could not list this machine's addresses; the certificate names loopback only", exc_info=True)
    return list(dict.fromkeys(host for host in hosts if host))


def _interface_addresses() -> list[str]:
    if shutil.which("ip") is None:
        return _resolver_addresses()
    try:
        listing = subprocess.run(["ip", "-j", "addr"], capture_output=True, check=True, timeout=5).stdout
        return _parse_ip_json(listing)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, subprocess.SubprocessError):
        # e.g. a BusyBox ``ip`` without JSON output
        return _resolver_addresses()


def _parse_ip_json(listing: bytes) -> list[str]:
    physical: list[str] = []
    virtual: list[str] = []
    for interface in json.loads(listing):
        flags = interface.get("flags", [])
        if "UP" not in flags or "LOOPBACK" in flags or interface.get("operstate") == "DOWN":
            continue
        found = [_lan_address(info.get("local", "")) for info in interface.get("addr_info", [])]
        target = virtual if str(interface.get("ifname", "")).startswith(_VIRTUAL_INTERFACES) else physical
        target += [address for address in found if address]
    return physical + virtual


def _resolver_addresses() -> list[str]:
    # Usually answered from /etc/hosts or the system's own records of its host name.
    infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    found = [_lan_address(str(info[4][0])) for info in infos]
    return [address for address in found if address]


def _lan_address(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast:
        return None
    return str(address)


def _general_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    """Certificate names for ``hosts``, normalised so that comparing them is meaningful."""
    names: list[x509.GeneralName] = []
    for host in (h.strip().strip("[]").rstrip(".") for h in hosts):
        if not host:
            continue
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.partition("%")[0])))
            continue
        except ValueError:
            pass
        try:
            names.append(x509.DNSName(host.encode("idna").decode("ascii").lower()))
        except UnicodeError:
            logger.warning("%r is not a valid DNS name; left out of the certificate", host)
    return list(dict.fromkeys(names))


# --- files ----------------------------------------------------------------------------------------------------------


def _paths(cert_dir: Path) -> CertPaths:
    return CertPaths(cert_dir / "ca.pem", cert_dir / "ca-key.pem", cert_dir / "server.pem", cert_dir / "server-key.pem")


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` atomically, so an interrupted run never leaves half a key or a key readable by others."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _save(cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write(key_path, key_pem, 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _load(cert_path: Path, key_path: Path) -> _Loaded | None:
    """The certificate and its key, or None when either is missing, unreadable or they do not belong together."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError:
        return None
    except _UNREADABLE:
        logger.warning("%s or %s is unreadable; replacing both", cert_path, key_path)
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        logger.warning("%s does not match %s; replacing both", key_path, cert_path)
        return None
    return cert, key


# --- certificate authority ------------------------------------------------------------------------------------------


def _usable_ca(paths: CertPaths, now: datetime) -> _Loaded | None:
    loaded = _load(paths.ca_cert, paths.ca_key)
    if loaded and loaded[0].not_valid_after_utc - now < _RENEW_BEFORE:
        logger.warning("development CA %s expires on %s; replacing it (trust the new one on your devices)",
                       paths.ca_cert, f"{loaded[0].not_valid_after_utc:%Y-%m-%d}")
        return None
    return loaded


def _new_ca(paths: CertPaths, now: datetime) -> _Loaded:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION)])
    usage = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now - _BACKDATE + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _save(paths.ca_cert, paths.ca_key, cert, key)
    logger.info("created development CA %s, valid until %s", paths.ca_cert, f"{cert.not_valid_after_utc:%Y-%m-%d}")
    return cert, key


# --- server certificate ---------------------------------------------------------------------------------------------


def _reissue_reason(paths: CertPaths, ca: x509.Certificate, wanted: list[x509.GeneralName],
                    now: datetime) -> str | None:
    """Why the server certificate must be (re)issued, or None when it is fine as it is."""
    loaded = _load(paths.server_cert, paths.server_key)
    if loaded is None:
        return "no usable server certificate"
    cert = loaded[0]
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "server certificate signed by another CA"
    if cert.not_valid_before_utc > now:
        return "server certificate not valid yet"
    if cert.not_valid_after_utc - now < _RENEW_BEFORE:
        return f"server certificate expires on {cert.not_valid_after_utc:%Y-%m-%d}"
    present = set(_general_names(_san_values(cert)))
    missing = [name for name in wanted if name not in present]
    if missing:
        return "server certificate does not name " + ", ".join(str(name.value) for name in missing)
    return None


def _san_values(cert: x509.Certificate) -> list[str]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in names if isinstance(name, x509.DNSName | x509.IPAddress)]


def _is_foreign(server_cert: Path) -> bool:
    """Whether ``server_cert`` comes from elsewhere (a real or mkcert certificate): never overwrite those, even
    when ``LUCARNE_CERT_DIR`` points at them while development certificates are requested."""
    try:
        cert = x509.load_pem_x509_certificate(server_cert.read_bytes())
    except _UNREADABLE:
        return False
    return [attribute.value for attribute in cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)] != [_CA_NAME]


def _new_server(paths: CertPaths, ca: _Loaded, names: list[x509.GeneralName], now: datetime) -> x509.Certificate:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(names[0].value)),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION)])
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    start = now - _BACKDATE
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(min(start + _SERVER_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _save(paths.server_cert, paths.server_key, cert, key)
    return cert


def ensure_dev_certs(cert_dir: Path, hosts: Sequence[str], *, now: datetime | None = None) -> CertPaths:
    """Make sure ``cert_dir`` holds a development CA and a server certificate it signed that names every host.

    The CA is created only when missing (or unusable); the server certificate is (re)issued when missing, signed by
    another development CA, expiring within 30 days or not naming all of ``hosts``. Otherwise no file is touched, and
    a server certificate from any other issuer (a production one) is never replaced. ``now`` (an aware datetime)
    replaces the current time, for tests.
    """
    if now is not None and now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now or datetime.now(UTC)
    wanted = _general_names(hosts)
    if not wanted:
        raise ValueError("the server certificate needs at least one host name or address")
    paths = _paths(cert_dir)
    if _is_foreign(paths.server_cert):
        logger.warning("%s was not issued by a %s; leaving %s untouched", paths.server_cert, _CA_NAME, cert_dir)
        return paths
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca = _usable_ca(paths, now) or _new_ca(paths, now)
    reason = _reissue_reason(paths, ca[0], wanted, now)
    if reason:
        cert = _new_server(paths, ca, wanted, now)
        logger.info("issued server certificate %s (%s) for %s, valid until %s", paths.server_cert, reason,
                    ", ".join(str(name.value) for name in wanted), f"{cert.not_valid_after_utc:%Y-%m-%d}")
    return paths


def describe(paths: CertPaths) -> str:
    """Human-readable summary for the start-up print: the names the server certificate carries, its expiry, and the
    CA file (with its fingerprint) that phones and browsers must trust."""
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    lines = [f"Server certificate {paths.server_cert}",
             f"  names: {', '.join(_san_values(cert)) or '(none)'}",
             f"  valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"]
    if paths.ca_cert.exists():
        ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        fingerprint = ca.fingerprint(hashes.SHA256()).hex(":").upper()
        lines += [f"Development CA {paths.ca_cert}", f"  SHA-256 {fingerprint}",
                  "  To open Lucarne from a phone on this network, install and trust this file (see certs/README.md)."]
    return "\n".join(lines)
