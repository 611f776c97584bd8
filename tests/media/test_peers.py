"""Server-side peers with two real in-process aiortc peers on loopback: answer, frames, capture, close."""

from __future__ import annotations

import asyncio
import fractions
import io

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from av import VideoFrame
from PIL import Image

from media import LatestFrame, NegotiationFailed, PeerRegistry, encode_jpeg

QUADRANTS = {(0, 0): (255, 0, 0), (1, 0): (0, 255, 0), (0, 1): (0, 0, 255), (1, 1): (255, 255, 255)}


class QuadrantTrack(VideoStreamTrack):
    """640x480 video with red, green, blue and white quadrants (like the e2e test camera)."""

    def __init__(self) -> None:
        super().__init__()
        image = Image.new("RGB", (640, 480))
        for (qx, qy), colour in QUADRANTS.items():
            image.paste(colour, (qx * 320, qy * 240, qx * 320 + 320, qy * 240 + 240))
        self._image = image

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_image(self._image)
        frame.pts, frame.time_base = pts, fractions.Fraction(time_base)
        return frame


async def _caller(track: VideoStreamTrack) -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(track)
    await pc.setLocalDescription(await pc.createOffer())
    return pc


async def test_server_peer_receives_video_and_captures_a_faithful_jpeg(registry: PeerRegistry) -> None:
    latest = LatestFrame()

    async def on_track(peer_id: str, track: object) -> None:
        await latest.consume(track)  # type: ignore[arg-type]

    caller = await _caller(QuadrantTrack())
    try:
        answer = await registry.answer("caller-1", caller.localDescription.sdp, on_track)
        await caller.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        frame = await latest.wait_first(timeout_s=15)
        assert (frame.width, frame.height) == (640, 480)
        jpeg = await encode_jpeg(frame)
        image = Image.open(io.BytesIO(jpeg)).convert("RGB")
        for (qx, qy), colour in QUADRANTS.items():
            pixel = image.getpixel((qx * 320 + 160, qy * 240 + 120))
            assert all(abs(a - b) <= 40 for a, b in zip(pixel, colour, strict=True)), (qx, qy, pixel)
        assert registry.connection_state("caller-1") in ("connecting", "connected")
    finally:
        await caller.close()
    await registry.close("caller-1")
    assert len(registry) == 0


async def test_registry_is_empty_after_the_caller_hangs_up(registry: PeerRegistry) -> None:
    latest = LatestFrame()
    caller = await _caller(QuadrantTrack())
    answer = await registry.answer("caller-2", caller.localDescription.sdp, lambda pid, t: latest.consume(t))
    await caller.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await latest.wait_first(timeout_s=15)
    before = {task for task in asyncio.all_tasks() if not task.done()}
    await registry.close_all()
    await caller.close()
    await asyncio.sleep(0.1)
    assert len(registry) == 0
    after = {task for task in asyncio.all_tasks() if not task.done()}
    assert len(after) < len(before)  # the consumer task and the peer's own tasks went away


@pytest.mark.parametrize("sdp", ["", "hello", "v=0\r\n" + "a=x\r\n" * 20_000, "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"])
async def test_bad_offers_are_refused_and_leave_nothing_behind(registry: PeerRegistry, sdp: str) -> None:
    async def ignore(peer_id: str, track: object) -> None:
        return None

    with pytest.raises(NegotiationFailed):
        await registry.answer("bad", sdp, ignore)
    assert len(registry) == 0
