"""The media tests' server-side peer registry (loopback only, closed after each test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from media import MediaSettings, PeerRegistry


@pytest.fixture
async def registry() -> AsyncIterator[PeerRegistry]:
    peers = PeerRegistry(MediaSettings(host_addresses=("127.0.0.1",), negotiation_timeout_s=10))
    try:
        yield peers
    finally:
        await peers.close_all()
