"""Malformed SDP over the socket relay (issue #9 Medium 12): relay-publish and relay-subscribe refuse every offer
of the corpus with an ``invalid`` ack (never ``internal``), leave no server-side peer, and the relay keeps
working for a valid offer."""

from __future__ import annotations

from typing import Any

from aiortc import AudioStreamTrack, RTCConfiguration, RTCPeerConnection

from server.keys import relay_key
from tests.media.sdp_corpus import corpus
from tests.media.test_peers import QuadrantTrack
from tests.server.teleconsultation.test_call_flow import _admitted_pair
from tests.server.teleconsultation.test_relay import Side

# Larger than engine.io's frame limit (2 x max_event_bytes): the socket layer drops such a frame with the
# connection before any handler runs, so they are sent over HTTP only (tests/server/regulation/test_sdp_http.py).
_LARGER_THAN_A_FRAME = {"1 MB", "10k candidates"}


async def _offer(*kinds: str) -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if "publish" in kinds:
        pc.addTrack(QuadrantTrack())
        pc.addTrack(AudioStreamTrack())
    else:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, str(pc.localDescription.sdp)


async def test_relay_refuses_malformed_sdp_leaves_no_peer_and_keeps_relaying(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, created, doc_id, pat_id = await _admitted_pair(live_server)
    relay = live_server.app[relay_key]
    registry = relay._peers
    publisher, publish_sdp = await _offer("publish")
    subscriber, subscribe_sdp = await _offer("subscribe")
    doc = Side(doc_sock)
    try:
        await doc_sock.call("enter")
        await pat_sock.call("enter")
        for event, sock, peer, valid in (("relay-publish", pat_sock, doc_id, publish_sdp),
                                         ("relay-subscribe", doc_sock, pat_id, subscribe_sdp)):
            peers_before, legs_before = len(registry), len(relay)
            for name, sdp in corpus(valid).items():
                if name in _LARGER_THAN_A_FRAME:
                    continue
                ack = await sock.call(event, {"peer": peer, "sdp": sdp})
                assert ack["ok"] is False and ack["error"] == "invalid" and ack["message"], (event, name, ack)
                assert (len(registry), len(relay)) == (peers_before, legs_before), (event, name)
            if event == "relay-publish":  # the valid offer is still answered
                published = await sock.call(event, {"peer": peer, "sdp": valid})
                assert published["ok"], published
                assert len(registry) == 1
        assert (await doc.subscribe(pat_id))["ok"]
        assert len(registry) == 2
    finally:
        await doc.close()
        await publisher.close()
        await subscriber.close()
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()
