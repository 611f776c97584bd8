"""Encoded-frame forwarding with three real in-process aiortc peers on loopback:
publisher → server (PeerRegistry + ForwardingSource, no decoding) → subscriber (decodes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import av
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from av import VideoFrame

from media import ForwardingSource, ForwardTrack, HistoryLimits, LatestFrame, MediaError, PeerRegistry
from media import forward
from tests.media.test_peers import QUADRANTS, QuadrantTrack


def assert_quadrants(frame: VideoFrame) -> None:
    assert (frame.width, frame.height) == (640, 480)
    image = frame.to_image().convert("RGB")
    for (qx, qy), colour in QUADRANTS.items():
        pixel = image.getpixel((qx * 320 + 160, qy * 240 + 120))
        assert all(abs(a - b) <= 40 for a, b in zip(pixel, colour, strict=True)), (qx, qy, pixel)


async def _wait_for(condition, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


async def test_forwarded_video_reaches_the_subscriber_without_server_side_decoding(registry: PeerRegistry) -> None:
    sources: asyncio.Future[ForwardingSource] = asyncio.get_running_loop().create_future()

    async def on_publisher_track(peer_id: str, track: MediaStreamTrack) -> None:
        sources.set_result(ForwardingSource.from_track(track))

    async def ignore(peer_id: str, track: MediaStreamTrack) -> None:
        return None

    publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    seen = LatestFrame()
    source: ForwardingSource | None = None
    try:
        publisher.addTrack(QuadrantTrack())
        await publisher.setLocalDescription(await publisher.createOffer())
        answer = await registry.answer("publisher", publisher.localDescription.sdp, on_publisher_track)
        await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        source = await asyncio.wait_for(sources, 5)

        forwarded = source.subscribe()
        assert isinstance(forwarded, ForwardTrack)
        viewer.addTransceiver("video", direction="recvonly")
        viewer.on("track", lambda track: asyncio.ensure_future(seen.consume(track)))
        await viewer.setLocalDescription(await viewer.createOffer())
        answer = await registry.answer("viewer", viewer.localDescription.sdp, ignore, send=(forwarded,))
        assert "VP8" in answer
        await viewer.setRemoteDescription(RTCSessionDescription(answer, "answer"))

        assert_quadrants(await seen.wait_first(timeout_s=10))
        await _wait_for(lambda: seen.frames_seen >= 10)
        assert_quadrants(seen.frame)  # type: ignore[arg-type]

        # Encoded frames went through the hook; the server's receiver decoded nothing.
        assert source.frames_forwarded >= 10
        assert source.keyframes_forwarded >= 1
        assert source.frames_rejected == 0
        assert source.decoded_frames == 0
        assert forwarded.frames_queued >= 10

        # A late subscriber asks the publisher for a keyframe (PLI) and starts at one.
        plis = source.plis_sent
        late = source.subscribe()
        assert source.plis_sent == plis + 1
        packet = await asyncio.wait_for(late.recv(), 5)
        assert isinstance(packet, av.Packet) and forward.is_vp8_keyframe(bytes(packet))
        assert packet.time_base == forward.VIDEO_TIME_BASE
        late.stop()
        assert source.subscriber_count == 1

        # The server-side sender only re-packetized: it was given av.Packet, and it is bound to the source.
        assert forwarded.sender is not None
        plis = source.plis_sent
        forwarded.sender._send_keyframe()  # what the sender does on a PLI/FIR from the viewer
        forwarded.sender._send_keyframe()  # rate limited: coalesced with the first
        await asyncio.sleep(source._pli_interval_s + 0.1)
        assert source.plis_sent == plis + 1

        # Still capture without decoding the relay: decode the forwarded packets only while asked.
        capture = LatestFrame()
        decoded = source.decoded()
        consumer = asyncio.create_task(capture.consume(decoded))
        assert_quadrants(await capture.wait_first(timeout_s=5))
        decoded.stop()
        await asyncio.wait_for(consumer, 2)
        assert source.subscriber_count == 1
    finally:
        await viewer.close()
        await publisher.close()
        if source is not None:
            await source.stop()
        await registry.close_all()
    assert forwarded.readyState == "ended"
    assert source.subscriber_count == 0
    with pytest.raises(MediaError):
        source.subscribe()
    assert len(registry) == 0


async def test_publisher_hang_up_ends_the_subscriber_tracks(registry: PeerRegistry) -> None:
    sources: asyncio.Future[ForwardingSource] = asyncio.get_running_loop().create_future()

    async def on_track(peer_id: str, track: MediaStreamTrack) -> None:
        sources.set_result(ForwardingSource.from_track(track))

    publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        publisher.addTrack(QuadrantTrack())
        await publisher.setLocalDescription(await publisher.createOffer())
        answer = await registry.answer("publisher", publisher.localDescription.sdp, on_track)
        await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        source = await asyncio.wait_for(sources, 5)
        track = source.subscribe()
        packet = await asyncio.wait_for(track.recv(), 10)
        assert isinstance(packet, av.Packet) and forward.is_vp8_keyframe(bytes(packet))
        assert packet.time_base == forward.VIDEO_TIME_BASE
    finally:
        await publisher.close()
    await registry.close("publisher")
    await asyncio.wait_for(source.ended.wait(), 5)
    assert track.readyState == "ended"
    assert source.decoded_frames == 0
    await source.stop()
    assert len(registry) == 0


class _StubSource:
    kind = "video"

    def __init__(self) -> None:
        self.requests = 0

    def request_keyframe(self) -> None:
        self.requests += 1

    def _unsubscribe(self, track: ForwardTrack) -> None:
        pass


def _packet(keyframe: bool) -> av.Packet:
    return av.Packet(bytes([0x10 if keyframe else 0x11, 0, 0]))


async def test_a_slow_subscriber_is_bounded_and_restarts_at_a_keyframe() -> None:
    stub = _StubSource()
    track = ForwardTrack(stub, queue_size=3)  # type: ignore[arg-type]
    track._offer(_packet(False), keyframe=False)
    assert track._queue.qsize() == 0 and stub.requests == 1  # waits for a keyframe, and keeps asking for one
    track._offer(_packet(True), keyframe=True)
    for _ in range(2):
        track._offer(_packet(False), keyframe=False)
    assert track._queue.qsize() == 3
    track._offer(_packet(False), keyframe=False)  # full: drop the queue, wait for the next keyframe
    assert track._queue.qsize() == 0 and track.frames_dropped == 4 and stub.requests == 2
    track._offer(_packet(False), keyframe=False)
    assert track._queue.qsize() == 0 and stub.requests == 3
    track._offer(_packet(True), keyframe=True)
    assert track._queue.qsize() == 1
    track.stop()
    with pytest.raises(Exception):
        await track.recv()


def test_missing_aiortc_internals_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    forward.check_aiortc_internals()  # the installed aiortc has everything
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    problem = forward._internals_problem()
    assert problem is not None and "_send_rtcp_pli" in problem
    monkeypatch.setattr(forward, "_PROBLEM_AT_IMPORT", problem)
    with pytest.raises(MediaError, match=r"aiortc 1\.\d+"):
        forward.check_aiortc_internals()


def test_a_receiver_without_the_private_jitter_buffer_is_refused() -> None:
    class NotAReceiver:
        track = None

    with pytest.raises(MediaError, match="_RTCRtpReceiver__jitter_buffer"):
        forward.check_aiortc_internals(NotAReceiver())  # type: ignore[arg-type]


@asynccontextmanager
async def _publishing(registry: PeerRegistry, history: HistoryLimits | None) -> AsyncIterator[ForwardingSource]:
    """A real aiortc phone publishing the quadrant pattern to a server peer whose receiver feeds a
    ForwardingSource (keeping ``history``); everything is closed on the way out."""
    sources: asyncio.Future[ForwardingSource] = asyncio.get_running_loop().create_future()

    async def on_publisher_track(peer_id: str, track: MediaStreamTrack) -> None:
        sources.set_result(ForwardingSource(registry.receiver(peer_id, track), history=history))

    publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    source: ForwardingSource | None = None
    try:
        publisher.addTrack(QuadrantTrack())
        await publisher.setLocalDescription(await publisher.createOffer())
        answer = await registry.answer("publisher", publisher.localDescription.sdp, on_publisher_track)
        await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        source = await asyncio.wait_for(sources, 5)
        yield source
    finally:
        await publisher.close()
        if source is not None:
            await source.stop()
        await registry.close_all()


async def test_a_capture_decodes_the_kept_frames_at_once_and_the_history_stays_bounded(registry: PeerRegistry) -> None:
    limits = HistoryLimits(refresh_frames=15, max_frames=300)
    async with _publishing(registry, limits) as source:
        history = source.history
        assert history is not None

        # No subscriber at all: the frames since the last keyframe are still kept, and past refresh_frames the
        # publisher is asked for a fresh keyframe, which restarts the history (so its size stays bounded).
        await _wait_for(lambda: source.keyframes_forwarded >= 3, timeout_s=15)
        assert source.plis_sent >= 2
        assert 1 <= len(history) <= limits.refresh_frames + 15  # plus the frames before the keyframe arrives
        assert history.dropped == 0 and history.peak_bytes <= limits.max_bytes
        assert forward.is_vp8_keyframe(bytes(history.frames()[0]))

        # The capture decodes the history straight away (no PLI, no waiting) up to the newest frame received.
        plis, newest = source.plis_sent, history.frames()[-1]
        frame = await source.newest_frame(timeout_s=5)
        assert_quadrants(frame)
        assert frame.pts == newest.pts
        assert source.plis_sent == plis or source.plis_sent == plis + 1  # at most the history's own refresh
        assert source.decoded_frames == 0  # the receiver itself still decodes nothing
    assert source is not None and source.history is not None and len(source.history) == 0  # released at the end


async def test_without_a_history_a_capture_waits_for_the_next_keyframe(registry: PeerRegistry) -> None:
    async with _publishing(registry, None) as source:
        assert source.history is None
        await _wait_for(lambda: bool(source.receiver.getSynchronizationSources()))  # media flows
        plis = source.plis_sent
        assert_quadrants(await source.newest_frame(timeout_s=5))
        assert source.plis_sent > plis  # it had to ask for a keyframe
        assert source.subscriber_count == 0  # the decoder it subscribed is gone
