"""Still frames: the newest decoded frame of a live track, or the newest frame decoded from a stream's encoded
history (keyframe first); JPEG encoded off the event loop."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame
from av.stream import Stream
from av.video.codeccontext import VideoCodecContext

__all__ = ["LatestFrame", "decode_newest", "encode_jpeg"]

logger = logging.getLogger(__name__)


class LatestFrame:
    """Consumes a video track and keeps its newest frame (older ones are dropped, never queued)."""

    def __init__(self) -> None:
        self.frame: VideoFrame | None = None
        self.frames_seen = 0
        self._first = asyncio.Event()

    async def consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, VideoFrame):
                    self.frame = frame
                    self.frames_seen += 1
                    self._first.set()
        except MediaStreamError:
            logger.info("track ended after %d frames", self.frames_seen)

    async def wait_first(self, timeout_s: float) -> VideoFrame:
        async with asyncio.timeout(timeout_s):
            await self._first.wait()
        assert self.frame is not None
        return self.frame


def _decode_newest(packets: Sequence[av.Packet[Stream]], codec: str) -> VideoFrame | None:
    decoder = av.CodecContext.create(codec, "r")
    if not isinstance(decoder, VideoCodecContext):
        # CodecContext.create is typed by codec name; ours is a runtime string, so check it names a video codec.
        raise ValueError(f"{codec} is not a video codec")
    newest: VideoFrame | None = None
    for packet in packets:
        try:
            for frame in decoder.decode(packet):
                newest = frame
        except av.FFmpegError as exc:
            # A damaged frame: the ones after it may still decode (with artefacts); the capture stays possible.
            logger.warning("a %s frame of the history failed to decode: %s", codec, exc)
    for frame in decoder.decode(None):  # flush: frame threading may hold the last frames back
        newest = frame
    return newest


async def decode_newest(packets: Sequence[av.Packet[Stream]], codec: str = "vp8") -> VideoFrame | None:
    """The last frame of ``packets`` (a keyframe first, then the frames that follow it), decoded with a fresh
    decoder in a worker thread; None when nothing decodes."""
    if not packets:
        return None
    return await asyncio.to_thread(_decode_newest, packets, codec)


def _to_jpeg(frame: VideoFrame, quality: int) -> bytes:
    buffer = io.BytesIO()
    # PyAV 18's stub declares VideoFrame.to_image without annotations (it returns a PIL image).
    frame.to_image().save(buffer, format="JPEG", quality=quality)  # type: ignore[no-untyped-call]
    return buffer.getvalue()


async def encode_jpeg(frame: VideoFrame, quality: int = 85) -> bytes:
    """JPEG bytes of ``frame``, encoded in a worker thread so the loop keeps serving media and sockets."""
    return await asyncio.to_thread(_to_jpeg, frame, quality)
