"""Relay through the server for teleconsultations, when two browsers cannot reach each other peer to peer (or
when ``LUCARNE_MEDIA_RELAY=always``). Implements :class:`signaling.MediaRelay`.

For each relayed pair (A, B) each browser publishes its camera and microphone for the other to one server-side
peer and receives the other's media from a second one:

    A ──publish (A→B)──► server ──subscribe (A→B)──► B        peer ids relay:<consultation>:<A>><B>:pub / :sub
    B ──publish (B→A)──► server ──subscribe (B→A)──► A

The server forwards the encoded media (``media.ForwardingSource``: VP8 and Opus passthrough, no decoding), so
both legs must negotiate VP8 and Opus (checked when answering). Every request re-reads the database: only two
members *in the call* of the same in-progress consultation may relay to each other. Peers are owned by the
``PeerRegistry`` and closed on hang-up (both sides of each pair of the member who left), on socket loss (the peers
that socket made), when the consultation ends and at shutdown.

Each leg is claimed for its owner (``PeerLimits``): a publication is a publisher and always finds room, a
subscription counts against its subscriber's and its consultation's share; a refusal is a ``rate_limited`` ack
saying when to retry, a malformed offer an ``invalid`` one (checked before aiortc sees it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from media import (
    FORWARDED_CODECS,
    ForwardingSource,
    ForwardTrack,
    MediaError,
    MediaStreamTrack,
    NegotiationFailed,
    PeerClaim,
    PeerLimitReached,
    PeerRegistry,
)
from signaling import InvalidMessage, Member, RateLimited, SignalingError, WrongState

from .calls import CallRules

__all__ = ["CallRelay", "RELAY_MODES"]

logger = logging.getLogger(__name__)

RELAY_MODES = ("auto", "always", "never")


class _Busy(SignalingError):
    """The process holds as many server-side peers as it may (``PeerLimits.max_peers``), for everybody."""

    code = "busy"


@dataclass
class _Leg:
    """One server-side peer of a relayed pair: the publisher's upload or the subscriber's download."""

    consultation_id: str
    publisher: str
    subscriber: str
    role: str  # "pub" | "sub"
    connection: str
    sources: dict[str, ForwardingSource] = field(default_factory=dict)  # pub: kind -> source
    tracks: tuple[ForwardTrack, ...] = ()  # sub: what the server sends

    @property
    def owner(self) -> str:
        return self.publisher if self.role == "pub" else self.subscriber

    def involves(self, participant_id: str) -> bool:
        return participant_id in (self.publisher, self.subscriber)


def _peer_id(consultation_id: str, publisher: str, subscriber: str, role: str) -> str:
    return f"relay:{consultation_id}:{publisher}>{subscriber}:{role}"


async def _ignore(peer_id: str, track: MediaStreamTrack) -> None:
    return None


class CallRelay:
    def __init__(self, peers: PeerRegistry, rules: CallRules) -> None:
        self._peers = peers
        self._rules = rules
        self._legs: dict[str, _Leg] = {}

    async def publish(self, member: Member, to: str, offer_sdp: str, connection: str) -> str:
        await self._rules.check_relay(member, to)
        leg = _Leg(member.consultation_id, member.participant_id, to, "pub", connection)
        peer_id = _peer_id(leg.consultation_id, leg.publisher, leg.subscriber, "pub")

        async def on_track(peer_id: str, track: MediaStreamTrack) -> None:
            if track.kind in leg.sources:
                return  # one track of each kind per publication
            source = ForwardingSource(self._peers.receiver(peer_id, track))
            leg.sources[track.kind] = source
            try:
                await source.ended.wait()
            finally:
                await source.stop()

        answer = await self._answer(peer_id, leg, offer_sdp, on_track)
        logger.info("relay %s published (%s)", peer_id, ", ".join(sorted(leg.sources)) or "no media")
        return answer

    async def subscribe(self, member: Member, publisher: str, offer_sdp: str, connection: str) -> str:
        await self._rules.check_relay(member, publisher)
        published = self._legs.get(_peer_id(member.consultation_id, publisher, member.participant_id, "pub"))
        live = [source for source in (published.sources.values() if published else ()) if not source.ended.is_set()]
        if not live:
            raise WrongState("that participant has not published through the server yet")
        tracks = tuple(source.subscribe() for source in live)
        leg = _Leg(member.consultation_id, publisher, member.participant_id, "sub", connection, tracks=tracks)
        peer_id = _peer_id(leg.consultation_id, publisher, leg.subscriber, "sub")
        try:
            return await self._answer(peer_id, leg, offer_sdp, _ignore, send=tracks)
        finally:
            if self._legs.get(peer_id) is not leg:  # refused: stop what was subscribed for it
                for track in tracks:
                    track.stop()

    async def _answer(self, peer_id: str, leg: _Leg, offer_sdp: str, on_track: Any,
                      send: tuple[MediaStreamTrack, ...] = ()) -> str:
        def forget() -> None:
            if self._legs.get(peer_id) is leg:
                del self._legs[peer_id]
            for track in leg.tracks:
                track.stop()

        # Registered before answering: the registry closes the peer this one replaces, whose forget() must not
        # remove the new leg (identity check above).
        previous = self._legs.get(peer_id)
        self._legs[peer_id] = leg
        claim = PeerClaim(member=f"participant:{leg.owner}", group=f"consultation:{leg.consultation_id}",
                          publisher=leg.role == "pub")
        try:
            return await self._peers.answer(peer_id, offer_sdp, on_track, send, codecs=FORWARDED_CODECS,
                                            on_close=forget, claim=claim)
        except NegotiationFailed as exc:
            self._undo(peer_id, leg, previous)
            raise InvalidMessage(str(exc)) from exc
        except PeerLimitReached as exc:
            self._undo(peer_id, leg, previous)
            refusal = _Busy if exc.scope == "process" else RateLimited
            raise refusal(f"{exc} (try again in {exc.retry_after_s} seconds)") from exc
        except BaseException as exc:
            self._undo(peer_id, leg, previous)
            if isinstance(exc, MediaError):
                raise WrongState(str(exc)) from exc
            raise

    def _undo(self, peer_id: str, leg: _Leg, previous: _Leg | None) -> None:
        if self._legs.get(peer_id) is not leg:
            return  # the new peer existed and its close already forgot it
        if previous is not None and peer_id in self._peers:
            self._legs[peer_id] = previous  # refused before anything was replaced: the old peer still works
        else:
            del self._legs[peer_id]

    async def release(self, member: Member, connection: str | None) -> None:
        """Socket loss (``connection`` given): the peers that socket made. Hang-up (``None``): every peer of every
        pair the member is part of, on both sides, since the other side's legs are useless without it."""
        pid = member.participant_id
        for peer_id, leg in list(self._legs.items()):
            if leg.consultation_id != member.consultation_id:
                continue
            owned = leg.owner == pid and connection in (None, leg.connection)
            if owned or (connection is None and leg.involves(pid)):
                await self._peers.close(peer_id)

    async def end(self, consultation_id: str) -> None:
        for peer_id, leg in list(self._legs.items()):
            if leg.consultation_id == consultation_id:
                await self._peers.close(peer_id)

    async def close_all(self) -> None:
        for peer_id in list(self._legs):
            await self._peers.close(peer_id)

    def status(self, consultation_id: str) -> list[dict[str, Any]]:
        """The consultation's relay peers as the server sees them (for the practitioner's page and the tests)."""
        result = []
        for peer_id, leg in self._legs.items():
            if leg.consultation_id != consultation_id or peer_id not in self._peers:
                continue
            entry: dict[str, Any] = {"publisher": leg.publisher, "subscriber": leg.subscriber, "role": leg.role,
                                     "state": self._peers.connection_state(peer_id)}
            if leg.role == "pub":
                entry["forwarded"] = {kind: source.frames_forwarded for kind, source in leg.sources.items()}
                entry["decoded"] = sum(source.decoded_frames for source in leg.sources.values())
            else:
                entry["sent"] = {track.kind: track.frames_queued for track in leg.tracks}
            result.append(entry)
        return result

    def __len__(self) -> int:
        return len(self._legs)
