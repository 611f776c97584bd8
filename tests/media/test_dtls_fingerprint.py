"""Catalogue §4a 15: a client whose SDP fingerprint is not the one of the certificate it presents in the DTLS
handshake gets no media through: the server's peer never reaches ``connected``, receives no frame and is closed
(two real aiortc peers back to back on loopback)."""

from __future__ import annotations

import asyncio
import re

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media import LatestFrame, PeerRegistry
from tests.media.test_peers import QuadrantTrack

_FINGERPRINTS = re.compile(r"^a=fingerprint:(\S+) ([0-9A-F:]+)", re.MULTILINE)


async def _fingerprints_of_another_certificate() -> dict[str, str]:
    other = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    other.addTransceiver("video")
    await other.setLocalDescription(await other.createOffer())
    found = dict(_FINGERPRINTS.findall(other.localDescription.sdp))
    await other.close()
    return found


async def test_a_fingerprint_that_does_not_match_the_certificate_terminates_the_media(registry: PeerRegistry) -> None:
    caller = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    caller.addTrack(QuadrantTrack())
    await caller.setLocalDescription(await caller.createOffer())
    foreign = await _fingerprints_of_another_certificate()
    # Advertise the other certificate's digests while the handshake presents the caller's own certificate.
    forged = _FINGERPRINTS.sub(lambda match: f"a=fingerprint:{match[1]} {foreign[match[1]]}",
                               caller.localDescription.sdp)
    assert forged != caller.localDescription.sdp

    latest = LatestFrame()
    closed = asyncio.Event()
    states: set[str] = set()
    try:
        answer = await registry.answer("forged", forged, lambda pid, track: latest.consume(track),
                                       on_close=closed.set)
        await caller.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        async with asyncio.timeout(10):
            while not closed.is_set():
                if "forged" in registry:
                    states.add(registry.connection_state("forged"))
                await asyncio.sleep(0.005)
        assert "connected" not in states, states
        assert "forged" not in registry and len(registry) == 0
        assert latest.frames_seen == 0  # no media reached the server
    finally:
        await caller.close()


async def test_the_same_client_with_its_true_fingerprint_connects(registry: PeerRegistry) -> None:
    # The control: without the forgery the same set-up connects, so the test above fails for the right reason.
    caller = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    caller.addTrack(QuadrantTrack())
    await caller.setLocalDescription(await caller.createOffer())
    latest = LatestFrame()
    try:
        answer = await registry.answer("true", caller.localDescription.sdp, lambda pid, track: latest.consume(track))
        await caller.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await latest.wait_first(timeout_s=10)
        assert registry.connection_state("true") == "connected"
    finally:
        await caller.close()
