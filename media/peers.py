"""PeerRegistry: the only owner of server-side ``RTCPeerConnection`` objects.

A peer is closed when its connection fails or closes, when the host hangs it up, and at shutdown; every close
runs under a timeout (``pc.close()`` can hang, aiortc#283) and cancels the peer's tasks. aiortc does not trickle
ICE, so the answer is returned once gathering completes (full SDP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aioice.ice
from aiortc import (
    MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription,
)
from aiortc.sdp import SessionDescription

from .errors import MediaError, NegotiationFailed, PeerNotFound
from .ports import use_port_range
from .settings import MediaSettings

__all__ = ["PeerRegistry", "TrackHandler"]

logger = logging.getLogger(__name__)

TrackHandler = Callable[[str, MediaStreamTrack], Awaitable[None]]


@dataclass
class _Peer:
    pc: RTCPeerConnection
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    on_close: Callable[[], None] | None = None


def _use_host_addresses(addresses: tuple[str, ...]) -> None:
    # aioice reads host addresses from a module function and skips 127.0.0.1; this is its only hook.
    if addresses:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(addresses)


class PeerRegistry:
    def __init__(self, settings: MediaSettings) -> None:
        self._settings = settings
        self._peers: dict[str, _Peer] = {}
        _use_host_addresses(settings.host_addresses)
        use_port_range(settings.port_range)

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self._peers

    async def answer(self, peer_id: str, offer_sdp: str, on_track: TrackHandler,
                     send: tuple[MediaStreamTrack, ...] = (), *, codecs: Mapping[str, str] | None = None,
                     on_close: Callable[[], None] | None = None) -> str:
        """Create the peer for ``peer_id`` (replacing any previous one) and return the SDP answer.

        :param on_track: called with each track the remote side sends.
        :param send: tracks the server sends to the remote side (e.g. a relayed caller camera for a viewer).
        :param codecs: kind → MIME type (``{"video": "video/VP8"}``) every m-line of that kind must negotiate
            first, or the offer is refused (encoded forwarding cannot change codecs).
        :param on_close: called once when the peer is closed, whatever closed it.
        """
        self._check_offer(offer_sdp)
        if len(self._peers) >= self._settings.max_peers and peer_id not in self._peers:
            raise MediaError("too many server-side peers")
        await self.close(peer_id)
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self._settings.ice_servers])
        peer = _Peer(RTCPeerConnection(config), on_close=on_close)
        self._peers[peer_id] = peer
        self._watch(peer_id, peer, on_track)
        try:
            async with asyncio.timeout(self._settings.negotiation_timeout_s):
                await peer.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
                for track in send:
                    peer.pc.addTrack(track)
                await peer.pc.setLocalDescription(await peer.pc.createAnswer())
            _check_codecs(peer.pc.localDescription.sdp, codecs or {})
        except (ValueError, TypeError, TimeoutError) as exc:
            await self.close(peer_id)
            raise NegotiationFailed(f"cannot negotiate with this offer: {exc}") from exc
        except BaseException:
            await self.close(peer_id)
            raise
        return peer.pc.localDescription.sdp

    def _check_offer(self, sdp: str) -> None:
        if not isinstance(sdp, str) or not sdp.startswith("v=0"):
            raise NegotiationFailed("not an SDP offer")
        if len(sdp.encode()) > self._settings.max_sdp_bytes:
            raise NegotiationFailed(f"SDP larger than {self._settings.max_sdp_bytes} bytes")
        try:
            media = SessionDescription.parse(sdp).media
        except (ValueError, KeyError, IndexError) as exc:
            raise NegotiationFailed(f"malformed SDP offer: {exc}") from exc
        if not any(m.kind in ("audio", "video") for m in media):
            raise NegotiationFailed("the offer has no audio or video")

    def _watch(self, peer_id: str, peer: _Peer, on_track: TrackHandler) -> None:
        @peer.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            task = asyncio.create_task(self._consume(peer_id, track, on_track))
            peer.tasks.add(task)
            task.add_done_callback(peer.tasks.discard)

        @peer.pc.on("connectionstatechange")
        async def _on_state() -> None:
            logger.info("peer %s connection %s", peer_id, peer.pc.connectionState)
            if peer.pc.connectionState in ("failed", "closed") and self._peers.get(peer_id) is peer:
                await self.close(peer_id)

    async def _consume(self, peer_id: str, track: MediaStreamTrack, on_track: TrackHandler) -> None:
        try:
            await on_track(peer_id, track)
        except asyncio.CancelledError:
            raise
        except Exception:
            # aiortc event handlers swallow errors: log here or they vanish.
            logger.exception("track handler failed for peer %s", peer_id)

    def receiver(self, peer_id: str, track: MediaStreamTrack) -> RTCRtpReceiver:
        """The receiver of ``track`` on peer ``peer_id`` (for :class:`ForwardingSource`)."""
        peer = self._peers.get(peer_id)
        if peer is not None:
            for receiver in peer.pc.getReceivers():
                if receiver.track is track:
                    return receiver
        raise PeerNotFound(peer_id)

    def peer_ids(self) -> list[str]:
        return list(self._peers)

    def connection_state(self, peer_id: str) -> str:
        peer = self._peers.get(peer_id)
        if peer is None:
            raise PeerNotFound(peer_id)
        return str(peer.pc.connectionState)

    async def close(self, peer_id: str) -> None:
        peer = self._peers.pop(peer_id, None)
        if peer is None:
            return
        if peer.on_close is not None:
            try:
                peer.on_close()
            except Exception:
                logger.exception("close callback failed for peer %s", peer_id)
        for task in list(peer.tasks):
            task.cancel()
        try:
            async with asyncio.timeout(self._settings.close_timeout_s):
                await peer.pc.close()
        except TimeoutError:
            logger.warning("peer %s did not close within %.1f s", peer_id, self._settings.close_timeout_s)
        for task in list(peer.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close_all(self) -> None:
        for peer_id in list(self._peers):
            await self.close(peer_id)


def _check_codecs(answer_sdp: str, required: Mapping[str, str]) -> None:
    if not required:
        return
    for media in SessionDescription.parse(answer_sdp).media:
        wanted = required.get(media.kind)
        if wanted is None or media.direction == "inactive" or not media.rtp.codecs:
            continue
        first = media.rtp.codecs[0].mimeType
        if first.lower() != wanted.lower():
            raise ValueError(f"{media.kind} must be {wanted} (offered first: {first})")
