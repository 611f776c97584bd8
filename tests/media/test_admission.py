"""PeerLimits in the registry (issue #9 High 4): subscribers are capped per member and per group and leave the
last peers to publishers; a peer replacing one with the same id does not count twice; concurrent offers for one
id leave exactly one peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from media import MediaSettings, NegotiationFailed, PeerClaim, PeerLimitReached, PeerLimits, PeerRegistry

LIMITS = PeerLimits(max_peers=5, publisher_reserve=2, max_publishers_per_member=1, max_subscribers_per_member=2,
                    max_subscribers_per_group=2, retry_after_s=3)


@pytest.fixture
async def capped() -> AsyncIterator[PeerRegistry]:
    peers = PeerRegistry(MediaSettings(host_addresses=("127.0.0.1",), limits=LIMITS))
    try:
        yield peers
    finally:
        await peers.close_all()


@pytest.fixture(scope="module")
def offer() -> str:
    async def make() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = str(pc.localDescription.sdp)
        await pc.close()
        return sdp

    return asyncio.run(make())


async def _ignore(peer_id: str, track: object) -> None:
    return None


def _viewer(member: str, group: str = "case:1") -> PeerClaim:
    return PeerClaim(member=member, group=group, publisher=False)


async def test_subscriber_caps_per_member_and_group_and_room_kept_for_publishers(capped: PeerRegistry,
                                                                                 offer: str) -> None:
    await capped.answer("a1", offer, _ignore, claim=_viewer("user:a"))
    await capped.answer("a1", offer, _ignore, claim=_viewer("user:a"))  # replaces itself: still one
    await capped.answer("a2", offer, _ignore, claim=_viewer("user:a", "case:2"))
    with pytest.raises(PeerLimitReached) as member:
        await capped.answer("a3", offer, _ignore, claim=_viewer("user:a", "case:3"))
    assert (member.value.scope, member.value.code, member.value.retry_after_s) == ("member", "rate_limited", 3)
    await capped.answer("b1", offer, _ignore, claim=_viewer("user:b"))
    with pytest.raises(PeerLimitReached) as group:
        await capped.answer("c1", offer, _ignore, claim=_viewer("user:c"))  # case:1 has two viewers
    assert group.value.scope == "group"
    with pytest.raises(PeerLimitReached) as process:  # 3 peers = 5 - 2 kept for publishers
        await capped.answer("c2", offer, _ignore, claim=_viewer("user:c", "case:9"))
    assert (process.value.scope, process.value.code) == ("process", "busy")
    # Publishers use the room kept for them, each member within its own share, until the process is full.
    await capped.answer("caller:1", offer, _ignore, claim=PeerClaim("caller:1", "case:1", publisher=True))
    with pytest.raises(PeerLimitReached) as publishers:
        await capped.answer("caller:1b", offer, _ignore, claim=PeerClaim("caller:1", "case:1", publisher=True))
    assert publishers.value.scope == "member"
    await capped.answer("caller:2", offer, _ignore, claim=PeerClaim("caller:2", "case:2", publisher=True))
    with pytest.raises(PeerLimitReached, match="as many video connections") as full:
        await capped.answer("caller:3", offer, _ignore, claim=PeerClaim("caller:3", "case:3", publisher=True))
    assert full.value.scope == "process"
    assert len(capped) == 5


async def test_concurrent_offers_for_one_id_leave_one_peer(capped: PeerRegistry, offer: str) -> None:
    results = await asyncio.gather(*(capped.answer("same", offer, _ignore, claim=_viewer("user:a"))
                                     for _ in range(8)), return_exceptions=True)
    assert all(isinstance(result, str) or isinstance(result, NegotiationFailed) for result in results), results
    assert capped.peer_ids() == ["same"]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        PeerLimits(max_peers=4, publisher_reserve=4)
    with pytest.raises(ValueError):
        PeerLimits(max_subscribers_per_group=0)
