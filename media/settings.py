"""Media settings (the slice of the host's configuration this package needs)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MediaSettings"]


@dataclass(frozen=True)
class MediaSettings:
    # Host addresses the server's ICE agent offers. Empty = aioice's default (every interface except 127.0.0.1).
    host_addresses: tuple[str, ...] = ()
    # Inclusive UDP port range for the server's ICE candidates; None = ports chosen by the system.
    port_range: tuple[int, int] | None = None
    # STUN/TURN for the server's own peers; empty by default so no public server is ever contacted.
    ice_servers: tuple[str, ...] = ()
    max_sdp_bytes: int = 48 * 1024
    negotiation_timeout_s: float = 10.0
    close_timeout_s: float = 5.0
    max_peers: int = 64
