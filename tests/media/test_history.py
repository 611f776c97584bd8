"""The frames kept since the last keyframe: restarted by each keyframe, a keyframe asked for past the refresh
point, dropped at the hard bounds."""

from __future__ import annotations

import av
import pytest

from media import HistoryLimits
from media.capture import decode_newest
from media.history import SinceKeyframe

KEY, INTER = b"\x00" + b"k" * 99, b"\x01" + b"i" * 9  # VP8 frame tag bit 0: 0 = keyframe


def packet(data: bytes) -> av.Packet:
    return av.Packet(data)


def test_inter_frames_before_the_first_keyframe_are_not_kept_and_ask_for_one() -> None:
    history = SinceKeyframe(HistoryLimits(refresh_frames=3, max_frames=10, max_bytes=10_000))
    assert history.add(packet(INTER), keyframe=False) is True
    assert len(history) == 0 and history.frames() == []


def test_each_keyframe_restarts_the_history_and_the_refresh_point_asks_for_a_keyframe() -> None:
    history = SinceKeyframe(HistoryLimits(refresh_frames=3, max_frames=10, max_bytes=10_000))
    assert history.add(packet(KEY), keyframe=True) is False
    assert history.add(packet(INTER), keyframe=False) is False
    assert history.add(packet(INTER), keyframe=False) is True  # 3 frames: time for a fresh keyframe
    assert history.add(packet(INTER), keyframe=False) is True  # still asking (the source rate-limits the PLIs)
    assert len(history) == 4 and history.bytes == 100 + 3 * 10
    assert history.add(packet(KEY), keyframe=True) is False
    assert len(history) == 1 and history.bytes == 100
    assert history.peak_bytes == 130
    frames = history.frames()
    frames.clear()  # a copy: decoding it in a thread never races the loop's appends
    assert len(history) == 1


@pytest.mark.parametrize("limits", [HistoryLimits(refresh_frames=2, max_frames=4, max_bytes=10_000),
                                    HistoryLimits(refresh_frames=2, max_frames=100, max_bytes=135)])
def test_a_publisher_that_ignores_keyframe_requests_cannot_grow_the_history(limits: HistoryLimits) -> None:
    history = SinceKeyframe(limits)
    history.add(packet(KEY), keyframe=True)
    for _ in range(50):
        history.add(packet(INTER), keyframe=False)
        assert len(history) <= limits.max_frames and history.bytes <= limits.max_bytes
    assert history.dropped >= 1


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        HistoryLimits(refresh_frames=10, max_frames=5)


async def test_decoding_the_history_refuses_a_codec_that_is_not_video() -> None:
    with pytest.raises(ValueError, match="opus is not a video codec"):
        await decode_newest([av.Packet(b"\x00" * 8)], codec="opus")
