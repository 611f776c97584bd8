"""Live view of a caller's camera through the server: the caller publishes to a server-side aiortc peer, each
watching professional gets the caller's video from its own server-side peer, forwarded as received (VP8
passthrough, ``media.ForwardingSource``: no decoding or re-encoding per viewer). The server decodes only for a
capture: the source keeps the caller's encoded frames since the last keyframe (bounded: a fresh keyframe is asked
for every ``HistoryLimits.refresh_frames``), so a capture decodes them at once, up to the newest frame, in a worker
thread, encodes the JPEG off the event loop and files it in the case (``RegulationCases.store_capture``).

Media peers live in the process that terminated them (documented limit: one media process per deployment, or
sticky routing of a case to one node); everything users see — timeline, captures — is in the database.

Peers are held to ``PeerLimits``: the caller's peer is a publisher (it always has room), each professional has
one viewer peer per case (watching again replaces it) and a few in all; refusals are 429 / 503 with Retry-After.
When the caller's stream stops (hang-up, lost connection, media killed) the viewers of that stream are closed, so
their pages see the video end and watch again when the caller re-offers on the same link; a capture in flight
then fails with a clear 409 instead of waiting out its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from av import VideoFrame

from media import (
    ForwardingSource,
    HistoryLimits,
    MediaError,
    MediaStreamTrack,
    PeerClaim,
    PeerLimitReached,
    PeerRegistry,
    encode_jpeg,
)

from ..identity.sessions import Principal
from ..platform.errors import Busy, Conflict, Invalid, LucarneError, NotFound, RateLimited
from .cases import CaptureView, RegulationCases

__all__ = ["LiveView"]

logger = logging.getLogger(__name__)


# Forwarding cannot change codecs: the caller must send VP8 and every viewer receive VP8.
_VP8 = {"video": "video/VP8"}
# How long a capture waits for a keyframe when the source has no history yet (normally well under a second).
CAPTURE_WAIT_S = 5.0
# Frames kept since the caller's last keyframe, so a capture decodes at once instead of waiting for one.
CAPTURE_HISTORY = HistoryLimits()


@dataclass
class _Case:
    source: ForwardingSource | None = None
    viewers: dict[str, ForwardingSource] = field(default_factory=dict)  # viewer peer id -> the source it watches


def _refusal(exc: MediaError) -> LucarneError:
    if isinstance(exc, PeerLimitReached):
        refusal = Busy if exc.scope == "process" else RateLimited
        return refusal(str(exc), retry_after_s=exc.retry_after_s)
    return Invalid(str(exc))


class LiveView:
    def __init__(self, peers: PeerRegistry, cases: RegulationCases) -> None:
        self._peers = peers
        self._cases = cases
        self._live: dict[str, _Case] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stream_stopped(self, case_id: str, caller: Principal, source: ForwardingSource) -> None:
        try:
            await source.stop()
            live = self._live.get(case_id)
            if live is not None:
                if live.source is source:
                    live.source = None
                # Their video is over: closing them tells their pages, which watch again on stream.started.
                for peer_id in [peer for peer, watched in live.viewers.items() if watched is source]:
                    await self._peers.close(peer_id)
            await self._cases.record(case_id, caller.actor, "stream.stopped", {})
        except Exception:
            logger.exception("recording the end of the stream failed for case %s", case_id)

    def viewer_count(self, case_id: str) -> int:
        """Viewer peers the live view holds for the case (zero once every viewer has left)."""
        live = self._live.get(case_id)
        return len(live.viewers) if live is not None else 0

    def cases_held(self) -> int:
        """Cases the live view holds state for (zero once every case is closed)."""
        return len(self._live)

    def peer_count(self) -> int:
        """Server-side peers alive (callers and viewers); zero after every case is closed."""
        return len(self._peers)

    def sources(self) -> int:
        return sum(1 for case in self._live.values() if case.source is not None and not case.source.ended.is_set())

    async def publish(self, caller: Principal, offer_sdp: str) -> str:
        """The caller's phone offers its camera; returns the server's answer."""
        case_id = caller.case_id
        assert caller.kind == "caller" and case_id is not None

        async def on_track(peer_id: str, track: MediaStreamTrack) -> None:
            if track.kind != "video":
                return
            await self._stop_source(case_id)
            # Built before media flows (the track arrives while the offer is answered), so no frame is decoded.
            source = ForwardingSource(self._peers.receiver(peer_id, track), history=CAPTURE_HISTORY)
            self._live.setdefault(case_id, _Case()).source = source
            await self._cases.record(case_id, caller.actor, "stream.started", {})
            try:
                await source.ended.wait()
            finally:
                # This task is cancelled when the caller's peer closes: record the end from a task of our own.
                self._spawn(self._stream_stopped(case_id, caller, source))

        claim = PeerClaim(member=caller.actor, group=f"case:{case_id}", publisher=True)
        try:
            answer = await self._peers.answer(f"caller:{case_id}", offer_sdp, on_track, codecs=_VP8, claim=claim)
        except MediaError as exc:
            raise _refusal(exc) from exc
        self._live.setdefault(case_id, _Case())
        return answer

    async def watch(self, viewer: Principal, case_id: str, offer_sdp: str) -> str:
        await self._cases.get(viewer, case_id)  # membership check (and audit)
        source = self._source(case_id)
        # One viewer peer per professional and case: watching again (a reload, a second tab) replaces it.
        peer_id = f"viewer:{case_id}:{viewer.user_id}"
        claim = PeerClaim(member=f"user:{viewer.user_id}", group=f"case:{case_id}", publisher=False)

        async def ignore(peer_id: str, track: MediaStreamTrack) -> None:
            return None

        track = source.subscribe()

        def gone() -> None:
            # Whatever closed the viewer's peer (hang-up, connection lost, case ended): forget it, so a long case
            # whose viewers come and go does not keep one entry per viewer ever connected.
            track.stop()
            live = self._live.get(case_id)
            if live is not None and live.viewers.get(peer_id) is source:
                del live.viewers[peer_id]

        try:
            answer = await self._peers.answer(peer_id, offer_sdp, ignore, send=(track,), codecs=_VP8, on_close=gone,
                                              claim=claim)
        except MediaError as exc:
            track.stop()
            raise _refusal(exc) from exc
        live = self._live.get(case_id)
        if live is None or source.ended.is_set():  # the case was closed, or the stream stopped, while answering
            await self._peers.close(peer_id)
            raise NotFound("the caller is not streaming")
        live.viewers[peer_id] = source
        return answer

    async def capture(self, regulator: Principal, case_id: str) -> CaptureView:
        """Grab the newest frame the server received from the caller and file it in the case."""
        await self._cases.get(regulator, case_id)
        frame = await _frame_unless_ended(self._source(case_id))
        jpeg = await encode_jpeg(frame)
        return await self._cases.store_capture(case_id, regulator.actor, jpeg, "stream")

    async def end_case(self, case_id: str) -> None:
        """Close every peer of the case (caller and viewers)."""
        live = self._live.pop(case_id, None)
        await self._peers.close(f"caller:{case_id}")
        if live is not None:
            if live.source is not None:
                await live.source.stop()
            for peer_id in list(live.viewers):
                await self._peers.close(peer_id)

    async def close_all(self) -> None:
        for case_id in list(self._live):
            await self.end_case(case_id)
        await self._peers.close_all()
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task

    def _source(self, case_id: str) -> ForwardingSource:
        live = self._live.get(case_id)
        if live is None or live.source is None or live.source.ended.is_set():
            raise NotFound("the caller is not streaming")
        return live.source

    async def _stop_source(self, case_id: str) -> None:
        live = self._live.get(case_id)
        if live is not None and live.source is not None:
            await live.source.stop()
            live.source = None


async def _frame_unless_ended(source: ForwardingSource) -> VideoFrame:
    """The newest frame of ``source``, or a clear refusal as soon as the stream ends (the caller hung up or its
    peer was closed) rather than after the whole capture timeout."""
    grab = asyncio.create_task(source.newest_frame(CAPTURE_WAIT_S))
    ended = asyncio.create_task(source.ended.wait())
    try:
        await asyncio.wait((grab, ended), return_when=asyncio.FIRST_COMPLETED)
        if grab.done():  # a frame decoded (or the wait timed out) before the end: that result stands
            try:
                return grab.result()
            except TimeoutError as exc:
                raise Conflict("no video frame received from the caller yet") from exc
        raise Conflict("the caller's video stopped before a frame could be captured; nothing was saved")
    finally:
        for task in (grab, ended):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
