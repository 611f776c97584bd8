"""Live view of a caller's camera through the server: the caller publishes to a server-side aiortc peer, each
watching professional gets the relayed video from its own server-side peer, and a capture takes the newest
decoded frame, encodes it off the event loop and files it in the case (``RegulationCases.store_capture``).

Media peers live in the process that terminated them (documented limit: one media process per deployment, or
sticky routing of a case to one node); everything users see — timeline, captures — is in the database.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field



from media import LiveSource, MediaError, MediaStreamTrack, PeerRegistry, encode_jpeg

from .errors import Conflict, Invalid, NotFound
from .regulation import CaptureView, RegulationCases
from .sessions import Principal

__all__ = ["LiveView"]

logger = logging.getLogger(__name__)


@dataclass
class _Case:
    source: LiveSource | None = None
    viewers: set[str] = field(default_factory=set)


class LiveView:
    def __init__(self, peers: PeerRegistry, cases: RegulationCases) -> None:
        self._peers = peers
        self._cases = cases
        self._live: dict[str, _Case] = {}

    def peer_count(self) -> int:
        """Server-side peers alive (callers and viewers); zero after every case is closed."""
        return len(self._peers)

    def sources(self) -> int:
        return sum(1 for case in self._live.values() if case.source is not None)

    async def publish(self, caller: Principal, offer_sdp: str) -> str:
        """The caller's phone offers its camera; returns the server's answer."""
        case_id = caller.case_id
        assert caller.kind == "caller" and case_id is not None

        async def on_track(peer_id: str, track: MediaStreamTrack) -> None:
            if track.kind != "video":
                return
            await self._stop_source(case_id)
            source = LiveSource(track)
            self._live.setdefault(case_id, _Case()).source = source
            source.start()
            await self._cases.record(case_id, caller.actor, "stream.started", {})
            try:
                await source.ended.wait()
            finally:
                await self._cases.record(case_id, caller.actor, "stream.stopped", {})

        try:
            answer = await self._peers.answer(f"caller:{case_id}", offer_sdp, on_track)
        except MediaError as exc:
            raise Invalid(str(exc)) from exc
        self._live.setdefault(case_id, _Case())
        return answer

    async def watch(self, viewer: Principal, case_id: str, offer_sdp: str) -> str:
        await self._cases.get(viewer, case_id)  # membership check (and audit)
        source = self._source(case_id)
        peer_id = f"viewer:{case_id}:{viewer.user_id}:{secrets.token_hex(4)}"

        async def ignore(peer_id: str, track: MediaStreamTrack) -> None:
            return None

        try:
            answer = await self._peers.answer(peer_id, offer_sdp, ignore, send=(source.subscribe(),))
        except MediaError as exc:
            raise Invalid(str(exc)) from exc
        self._live[case_id].viewers.add(peer_id)
        return answer

    async def capture(self, regulator: Principal, case_id: str) -> CaptureView:
        """Grab the newest frame the server received from the caller and file it in the case."""
        await self._cases.get(regulator, case_id)
        frame = self._source(case_id).latest.frame
        if frame is None:
            raise Conflict("no video frame received yet")
        jpeg = await encode_jpeg(frame)
        return await self._cases.store_capture(case_id, regulator.actor, jpeg, "stream")

    async def end_case(self, case_id: str) -> None:
        """Close every peer of the case (caller and viewers)."""
        live = self._live.pop(case_id, None)
        await self._peers.close(f"caller:{case_id}")
        if live is not None:
            if live.source is not None:
                await live.source.stop()
            for peer_id in live.viewers:
                await self._peers.close(peer_id)

    async def close_all(self) -> None:
        for case_id in list(self._live):
            await self.end_case(case_id)
        await self._peers.close_all()

    def _source(self, case_id: str) -> LiveSource:
        live = self._live.get(case_id)
        if live is None or live.source is None or live.source.ended.is_set():
            raise NotFound("the caller is not streaming")
        return live.source

    async def _stop_source(self, case_id: str) -> None:
        live = self._live.get(case_id)
        if live is not None and live.source is not None:
            await live.source.stop()
            live.source = None
