"""Whether one more server-side peer fits: the caps of :class:`PeerLimits`, checked against the peers alive."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import PeerLimitReached
from .settings import PeerLimits

__all__ = ["PeerClaim", "check_room"]


@dataclass(frozen=True)
class PeerClaim:
    """Who a server-side peer is for.

    :param member: the professional or participant the peer serves (one key per person, e.g. ``user:<id>``).
    :param group: the case or consultation it belongs to.
    :param publisher: True for a peer that receives media the server forwards (a caller's camera, a relayed
        publisher), False for one that only sends forwarded media out (a viewer, a relay subscriber).
    """

    member: str
    group: str
    publisher: bool

    @classmethod
    def unnamed(cls, peer_id: str) -> PeerClaim:
        """A peer the host did not attribute: counted against the process cap only."""
        return cls(member=f"peer:{peer_id}", group=f"peer:{peer_id}", publisher=True)


def check_room(alive: Iterable[PeerClaim], new: PeerClaim, limits: PeerLimits) -> None:
    """Raise :class:`PeerLimitReached` unless ``new`` fits beside the ``alive`` peers (not counting the peer it
    replaces: the caller leaves that one out)."""
    alive = list(alive)
    wait = limits.retry_after_s
    if new.publisher:
        if len(alive) >= limits.max_peers:
            raise PeerLimitReached("the server is handling as many video connections as it can; try again shortly",
                                   "process", wait)
        mine = sum(1 for claim in alive if claim.publisher and claim.member == new.member)
        if mine >= limits.max_publishers_per_member:
            raise PeerLimitReached(f"you already send {mine} videos through the server; stop one first",
                                   "member", wait)
        return
    subscribers = [claim for claim in alive if not claim.publisher]
    if sum(1 for claim in subscribers if claim.member == new.member) >= limits.max_subscribers_per_member:
        raise PeerLimitReached(f"you already watch {limits.max_subscribers_per_member} videos through the server; "
                               "close one of them first", "member", wait)
    if sum(1 for claim in subscribers if claim.group == new.group) >= limits.max_subscribers_per_group:
        raise PeerLimitReached(f"{limits.max_subscribers_per_group} people already watch this video through the "
                               "server; try again shortly", "group", wait)
    if len(alive) >= limits.max_peers - limits.publisher_reserve:
        # The last peers stay free for publishers: a caller must always be able to send its camera.
        raise PeerLimitReached("the server is handling as many video connections as it can; try again shortly",
                               "process", wait)
