"""TLS contexts: the server's, and a client's that trusts one CA file (tests, benchmarks, health checks)."""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_ssl_context", "server_ssl_context"]


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Server-side context presenting ``cert`` (full chain, PEM) with its private ``key``; TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def client_ssl_context(ca_cert: Path) -> ssl.SSLContext:
    """Client-side context that trusts only ``ca_cert`` and checks the server's host name; TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_cert))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
