"""Still frames from a live track: keep only the newest decoded frame, encode JPEG off the event loop."""

from __future__ import annotations

import asyncio
import io
import logging

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

__all__ = ["LatestFrame", "encode_jpeg"]

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


def _to_jpeg(frame: VideoFrame, quality: int) -> bytes:
    buffer = io.BytesIO()
    frame.to_image().save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


async def encode_jpeg(frame: VideoFrame, quality: int = 85) -> bytes:
    """JPEG bytes of ``frame``, encoded in a worker thread so the loop keeps serving media and sockets."""
    return await asyncio.to_thread(_to_jpeg, frame, quality)
