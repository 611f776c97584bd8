"""The UDP port range of the server's peers: the candidates in the server's answer use ports of the range, a port
already taken is skipped, and without a range the system picks ports again."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import aioice.ice
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection

from media import MediaError, MediaSettings, PeerRegistry
from tests.media.test_peers import QuadrantTrack

CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host", re.MULTILINE)


def _free_range(size: int) -> tuple[int, int]:
    """A run of ``size`` UDP ports that are free on loopback right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            low = probe.getsockname()[1]
        if low + size > 65535:
            continue
        sockets = []
        try:
            for port in range(low, low + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return low, low + size - 1
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port run found")


@pytest.fixture(autouse=True)
def restore_ports() -> Iterator[None]:
    yield
    PeerRegistry(MediaSettings(host_addresses=("127.0.0.1",)))  # back to system-chosen ports


async def _ignore(peer_id: str, track: MediaStreamTrack) -> None:
    return None


async def _offer() -> RTCPeerConnection:
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    client.addTrack(QuadrantTrack())
    await client.setLocalDescription(await client.createOffer())
    return client


async def _answer_ports(registry: PeerRegistry, peer_id: str, client: RTCPeerConnection) -> list[int]:
    answer = await registry.answer(peer_id, client.localDescription.sdp, _ignore)
    return [int(port) for _, port in CANDIDATE.findall(answer)]


async def test_server_candidates_use_ports_of_the_range_and_skip_busy_ones() -> None:
    # The range is process-wide (aioice is shared), so the in-process "browsers" gather before it is set.
    clients = [await _offer() for _ in range(4)]
    low, high = _free_range(3)
    registry = PeerRegistry(MediaSettings(host_addresses=("127.0.0.1",), port_range=(low, high)))
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", low))  # another program holds the first port
    try:
        used: list[int] = []
        for peer, client in zip(("a", "b"), clients, strict=False):
            ports = await _answer_ports(registry, peer, client)
            assert ports, "the answer carries host candidates"
            assert all(low < port <= high for port in ports), (ports, low, high)
            used += ports
        assert len(set(used)) == len(used)  # two live peers never share a port
        # The range is full (one port busy, two held by live peers): the next peer gets no host candidate.
        assert await _answer_ports(registry, "c", clients[2]) == []
        await registry.close("a")
        ports = await _answer_ports(registry, "d", clients[3])
        assert ports and all(low < port <= high for port in ports)
    finally:
        busy.close()
        await registry.close_all()
        for client in clients:
            await client.close()


async def test_without_a_range_ports_are_left_to_the_system_and_bad_ranges_are_refused() -> None:
    registry = PeerRegistry(MediaSettings(host_addresses=("127.0.0.1",)))
    assert aioice.ice.asyncio.__name__ == "asyncio"  # type: ignore[attr-defined]
    client = await _offer()
    try:
        assert await _answer_ports(registry, "a", client)
    finally:
        await registry.close_all()
        await client.close()
    with pytest.raises(MediaError):
        PeerRegistry(MediaSettings(port_range=(6000, 5000)))
