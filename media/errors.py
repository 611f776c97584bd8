"""Media errors.

    MediaError
    ├── PeerNotFound       (no live peer with that id)
    └── NegotiationFailed  (malformed or unacceptable SDP, or negotiation timed out)
"""

from __future__ import annotations

__all__ = ["MediaError", "PeerNotFound", "NegotiationFailed"]


class MediaError(Exception):
    code = "media_error"


class PeerNotFound(MediaError):
    code = "not_found"


class NegotiationFailed(MediaError):
    code = "invalid"
