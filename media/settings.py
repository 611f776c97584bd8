"""Media settings (the slice of the host's configuration this package needs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .sdp import SdpLimits

__all__ = ["MediaSettings", "PeerLimits"]


@dataclass(frozen=True)
class PeerLimits:
    """How many server-side peers may exist at once, so one member cannot take every peer of the process.

    Publishers (a caller's camera, a relayed participant's upload) are bounded by structure: one per caller and
    one per relayed pair, each new offer replacing the previous peer. What a member can multiply is receiving:
    viewers of a live view and relay subscribers, so those are capped per member and per case / consultation,
    and may not use the last ``publisher_reserve`` peers of the process, which stay free for publishers.
    """

    max_peers: int = 64
    publisher_reserve: int = 16
    max_publishers_per_member: int = 8
    max_subscribers_per_member: int = 4
    max_subscribers_per_group: int = 16
    # What a refusal tells the client to wait: peers are freed by hang-ups, or by ICE consent failure (~30 s).
    retry_after_s: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.publisher_reserve < self.max_peers:
            raise ValueError("publisher_reserve must be smaller than max_peers")
        if min(self.max_publishers_per_member, self.max_subscribers_per_member, self.max_subscribers_per_group) < 1:
            raise ValueError("every peer cap must be at least 1")


@dataclass(frozen=True)
class MediaSettings:
    # Host addresses the server's ICE agent offers. Empty = aioice's default (every interface except 127.0.0.1).
    host_addresses: tuple[str, ...] = ()
    # Inclusive UDP port range for the server's ICE candidates; None = ports chosen by the system.
    port_range: tuple[int, int] | None = None
    # STUN/TURN for the server's own peers; empty by default so no public server is ever contacted.
    ice_servers: tuple[str, ...] = ()
    sdp: SdpLimits = field(default_factory=SdpLimits)
    negotiation_timeout_s: float = 10.0
    close_timeout_s: float = 5.0
    limits: PeerLimits = field(default_factory=PeerLimits)
