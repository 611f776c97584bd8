"""Media errors.

    MediaError
    ├── PeerNotFound       (no live peer with that id)
    ├── NegotiationFailed  (malformed or unacceptable SDP, or negotiation timed out)
    │   └── InvalidSdp     (media/sdp.py: the offer is refused before aiortc sees it)
    └── PeerLimitReached   (a cap of PeerLimits: the member's, the case's or the process's)
"""

from __future__ import annotations

__all__ = ["MediaError", "PeerNotFound", "NegotiationFailed", "PeerLimitReached"]


class MediaError(Exception):
    code = "media_error"


class PeerNotFound(MediaError):
    code = "not_found"


class NegotiationFailed(MediaError):
    code = "invalid"


class PeerLimitReached(MediaError):
    """``scope`` is "member" or "group" (the requester's own share, code rate_limited) or "process" (the server
    is busy for everybody, code busy); ``retry_after_s`` is how long to wait before trying again."""

    def __init__(self, message: str, scope: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.scope = scope
        self.retry_after_s = retry_after_s
        self.code = "busy" if scope == "process" else "rate_limited"
