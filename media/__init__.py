"""Server-side media with aiortc: peers the server terminates (relay when peer-to-peer fails, live view),
owned by one registry that closes them on every path, and still-frame capture off the event loop.

Imports only the standard library, aiortc and PyAV; the host wires it to signaling and storage.
"""

from aiortc import MediaStreamTrack

from .admission import PeerClaim
from .capture import LatestFrame, decode_newest, encode_jpeg
from .errors import MediaError, NegotiationFailed, PeerLimitReached, PeerNotFound
from .forward import FORWARDED_CODECS, ForwardingSource, ForwardTrack
from .history import HistoryLimits
from .live import LiveSource
from .peers import PeerRegistry
from .sdp import InvalidSdp, SdpLimits, SdpOffer, check_offer
from .settings import MediaSettings, PeerLimits

__all__ = ["FORWARDED_CODECS", "MediaSettings", "PeerRegistry", "LiveSource", "ForwardingSource", "ForwardTrack",
           "MediaStreamTrack", "LatestFrame", "decode_newest", "encode_jpeg",
           "HistoryLimits", "MediaError", "PeerNotFound",
           "NegotiationFailed", "PeerClaim", "PeerLimits", "PeerLimitReached", "InvalidSdp", "SdpLimits",
           "SdpOffer", "check_offer"]
