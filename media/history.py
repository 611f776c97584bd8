"""The encoded frames of a forwarded VP8 stream since its last keyframe, so a still can be decoded at once.

A capture from a stream the server only forwards used to ask the publisher for a keyframe (RTCP PLI) and wait
for it: about 0.35 s median behind a browser (docs/benchmarks.md). Keeping the frames since the last keyframe
lets the capture decode them straight away (about 0.65 ms per 640x480 frame at 1 Mbps in libvpx here), up to the
newest frame received.

Memory and decode time are bounded: past ``refresh_frames`` the history asks for a fresh keyframe (the source
sends a rate-limited PLI), which restarts it; if the publisher ignores the requests and the history reaches
``max_frames`` or ``max_bytes`` it is dropped (a capture then waits for the next keyframe, as before).
"""

from __future__ import annotations

from dataclasses import dataclass

import av
from av.stream import Stream

__all__ = ["HistoryLimits", "SinceKeyframe"]


@dataclass(frozen=True)
class HistoryLimits:
    # 3 s at 30 fps: a capture decodes at most about this many frames (about 60 ms here), 30 ms on average;
    # the cost is one keyframe every 3 s on the live stream.
    refresh_frames: int = 90
    # Hard bounds for a publisher that ignores keyframe requests (about 10 s, or 4 MiB at 1 Mbps).
    max_frames: int = 300
    max_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 1 <= self.refresh_frames <= self.max_frames or self.max_bytes < 1:
            raise ValueError("need 1 <= refresh_frames <= max_frames and max_bytes >= 1")


class SinceKeyframe:
    """The last keyframe and the inter frames after it, oldest first. Used from the event loop only."""

    def __init__(self, limits: HistoryLimits) -> None:
        self.limits = limits
        self._frames: list[av.Packet[Stream]] = []
        self.bytes = 0
        self.peak_bytes = 0
        self.dropped = 0  # histories abandoned at a hard bound

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, packet: av.Packet[Stream], keyframe: bool) -> bool:
        """Keep ``packet``; True when the publisher should be asked for a keyframe."""
        size = packet.size
        if keyframe:
            self._frames = [packet]
            self.bytes = size
        elif not self._frames:
            return True  # inter frames are useless without the keyframe they follow
        elif len(self._frames) >= self.limits.max_frames or self.bytes + size > self.limits.max_bytes:
            self.clear()
            self.dropped += 1
            return True
        else:
            self._frames.append(packet)
            self.bytes += size
        self.peak_bytes = max(self.peak_bytes, self.bytes)
        return len(self._frames) >= self.limits.refresh_frames

    def frames(self) -> list[av.Packet[Stream]]:
        """A copy, to decode in a worker thread while the loop keeps adding (packets are never modified)."""
        return list(self._frames)

    def clear(self) -> None:
        self._frames = []
        self.bytes = 0
