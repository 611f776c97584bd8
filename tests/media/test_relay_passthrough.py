"""The relay's media path with real in-process aiortc peers on loopback: a publisher's VP8 video and Opus audio
pass through the server encoded (no decoding there) to a subscriber; codecs that cannot be forwarded are refused;
closing a peer calls its close hook and leaves the registry empty."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import (
    AudioStreamTrack, MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from media import FORWARDED_CODECS, ForwardingSource, LatestFrame, MediaError, NegotiationFailed
from media import PeerRegistry
from tests.media.test_forward import assert_quadrants
from tests.media.test_peers import QuadrantTrack


async def _wait_for(condition, timeout_s: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


class _AudioCounter:
    def __init__(self) -> None:
        self.frames = 0

    async def consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                if isinstance(await track.recv(), AudioFrame):
                    self.frames += 1
        except MediaStreamError:
            pass


async def test_video_and_audio_pass_through_encoded_and_peers_close_cleanly(registry: PeerRegistry) -> None:
    sources: dict[str, ForwardingSource] = {}
    closed: list[str] = []

    async def on_publisher_track(peer_id: str, track: MediaStreamTrack) -> None:
        source = ForwardingSource(registry.receiver(peer_id, track))
        sources[track.kind] = source
        try:
            await source.ended.wait()
        finally:
            await source.stop()

    async def ignore(peer_id: str, track: MediaStreamTrack) -> None:
        return None

    publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    subscriber = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video, audio = LatestFrame(), _AudioCounter()
    consumers: list[asyncio.Task[None]] = []
    try:
        publisher.addTrack(QuadrantTrack())
        publisher.addTrack(AudioStreamTrack())
        await publisher.setLocalDescription(await publisher.createOffer())
        answer = await registry.answer("pub", publisher.localDescription.sdp, on_publisher_track,
                                       codecs=FORWARDED_CODECS, on_close=lambda: closed.append("pub"))
        await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        assert set(sources) == {"video", "audio"}  # created while answering, before any media flowed

        tracks = (sources["video"].subscribe(), sources["audio"].subscribe())
        assert [track.kind for track in tracks] == ["video", "audio"]

        def on_track(track: MediaStreamTrack) -> None:
            sink = video.consume(track) if track.kind == "video" else audio.consume(track)
            consumers.append(asyncio.ensure_future(sink))

        subscriber.on("track", on_track)
        subscriber.addTransceiver("video", direction="recvonly")
        subscriber.addTransceiver("audio", direction="recvonly")
        await subscriber.setLocalDescription(await subscriber.createOffer())
        answer = await registry.answer("sub", subscriber.localDescription.sdp, ignore, send=tracks,
                                       codecs=FORWARDED_CODECS, on_close=lambda: closed.append("sub"))
        await subscriber.setRemoteDescription(RTCSessionDescription(answer, "answer"))

        assert_quadrants(await video.wait_first(timeout_s=10))
        await _wait_for(lambda: video.frames_seen >= 10 and audio.frames >= 25)
        for kind in ("video", "audio"):
            assert sources[kind].frames_forwarded > 0, kind
            assert sources[kind].decoded_frames == 0, kind  # the server decoded nothing
            assert sources[kind].frames_rejected == 0, kind
        assert sources["audio"].plis_sent == 0  # no keyframes in Opus
        with pytest.raises(MediaError):
            sources["audio"].decoded()

        await registry.close("pub")
        # The publisher's peer closing ends its sources and so what the subscriber's peer sends.
        await _wait_for(lambda: all(track.readyState == "ended" for track in tracks), 5)
    finally:
        await subscriber.close()
        await publisher.close()
        await registry.close_all()
        for task in consumers:
            task.cancel()
    assert closed == ["pub", "sub"]
    assert len(registry) == 0


async def test_an_offer_without_vp8_first_is_refused_and_leaves_no_peer(registry: PeerRegistry) -> None:
    publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    closed: list[bool] = []
    try:
        transceiver = publisher.addTransceiver(QuadrantTrack(), direction="sendonly")
        h264 = [codec for codec in RTCRtpSender.getCapabilities("video").codecs if codec.mimeType == "video/H264"]
        transceiver.setCodecPreferences(h264)
        await publisher.setLocalDescription(await publisher.createOffer())

        async def ignore(peer_id: str, track: MediaStreamTrack) -> None:
            return None

        with pytest.raises(NegotiationFailed, match="video/vp8"):
            await registry.answer("pub", publisher.localDescription.sdp, ignore, codecs=FORWARDED_CODECS,
                                  on_close=lambda: closed.append(True))
    finally:
        await publisher.close()
    assert closed == [True] and len(registry) == 0
