"""A live source: one publisher's video track fanned out to any number of viewers, with its newest frame kept
for still capture. Decoding happens once per source; each viewer's sender re-encodes (aiortc's stock relay).
``MediaRelay`` subscriptions are unbuffered so a slow viewer drops frames instead of queueing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay

from .capture import LatestFrame

__all__ = ["LiveSource"]

logger = logging.getLogger(__name__)


class LiveSource:
    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.latest = LatestFrame()
        self._relay = MediaRelay()
        self._task: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.latest.consume(self._relay.subscribe(self.track, buffered=False))
        finally:
            self.ended.set()

    def subscribe(self) -> MediaStreamTrack:
        """A new track for one viewer."""
        return self._relay.subscribe(self.track, buffered=False)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.ended.set()
