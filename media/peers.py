"""PeerRegistry: the only owner of server-side ``RTCPeerConnection`` objects.

A peer is closed when its connection fails or closes, when the host hangs it up, and at shutdown; every close
runs under a timeout (``pc.close()`` can hang, aiortc#283) and cancels the peer's tasks. aiortc does not trickle
ICE, so the answer is returned once gathering completes (full SDP).

Before a peer exists its offer is checked (``media/sdp.py``) and its claim must fit the caps of
:class:`PeerLimits` (``media/admission.py``); an offer aiortc still rejects closes the half-made peer at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aioice.ice
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription

from .admission import PeerClaim, check_room
from .errors import NegotiationFailed, PeerNotFound
from .ports import use_port_range
from .sdp import check_offer
from .settings import MediaSettings

__all__ = ["PeerRegistry", "TrackHandler", "PeerClaim"]

logger = logging.getLogger(__name__)

TrackHandler = Callable[[str, MediaStreamTrack], Awaitable[None]]


@dataclass
class _Peer:
    pc: RTCPeerConnection
    claim: PeerClaim
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
                     on_close: Callable[[], None] | None = None, claim: PeerClaim | None = None) -> str:
        """Create the peer for ``peer_id`` (replacing any previous one) and return the SDP answer.

        :param on_track: called with each track the remote side sends.
        :param send: tracks the server sends to the remote side (e.g. a relayed caller camera for a viewer).
        :param codecs: kind → MIME type (``{"video": "video/VP8"}``) every m-line of that kind must negotiate
            first, or the offer is refused (encoded forwarding cannot change codecs).
        :param on_close: called once when the peer is closed, whatever closed it.
        :param claim: whom the peer is for, held to the caps of ``MediaSettings.limits``
            (:class:`PeerLimitReached`); without one, only the process cap applies.
        :raises InvalidSdp: the offer is malformed (checked before aiortc sees it; nothing is created).
        :raises NegotiationFailed: aiortc could not answer it (the half-made peer is closed).
        """
        check_offer(offer_sdp, self._settings.sdp)
        claim = claim or PeerClaim.unnamed(peer_id)
        self._check_room(peer_id, claim)
        await self.close(peer_id)
        self._check_room(peer_id, claim)  # again: other answers may have taken the room while closing
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self._settings.ice_servers])
        peer = _Peer(RTCPeerConnection(config), claim, on_close=on_close)
        self._peers[peer_id] = peer
        self._watch(peer_id, peer, on_track)
        try:
            async with asyncio.timeout(self._settings.negotiation_timeout_s):
                await peer.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
                for track in send:
                    peer.pc.addTrack(track)
                await peer.pc.setLocalDescription(await peer.pc.createAnswer())
            _check_codecs(peer.pc.localDescription.sdp, codecs or {})
        except TimeoutError as exc:
            await self._discard(peer_id, peer)
            raise NegotiationFailed("the offer could not be answered in time") from exc
        except Exception as exc:
            # aiortc raises ValueError, OperationError, InvalidStateError, AttributeError or an AssertionError on
            # offers it cannot use: every one is a refusal of this offer, never a server error.
            replaced = self._peers.get(peer_id) is not peer
            await self._discard(peer_id, peer)
            if replaced:
                raise NegotiationFailed("the connection was closed or replaced by a newer offer while this one "
                                        "was being answered") from exc
            logger.info("peer %s: offer refused by aiortc: %r", peer_id, exc)
            raise NegotiationFailed(f"cannot negotiate with this offer: {exc or type(exc).__name__}") from exc
        except BaseException:
            await self._discard(peer_id, peer)
            raise
        return peer.pc.localDescription.sdp

    def _check_room(self, peer_id: str, claim: PeerClaim) -> None:
        check_room((peer.claim for other, peer in self._peers.items() if other != peer_id), claim,
                   self._settings.limits)

    async def _discard(self, peer_id: str, peer: _Peer) -> None:
        """Close ``peer`` if it is still the one registered under ``peer_id`` (a newer answer may have replaced
        it: that one must survive), and close its connection in any case."""
        if self._peers.get(peer_id) is peer:
            await self.close(peer_id)
        else:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._settings.close_timeout_s):
                    await peer.pc.close()

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
