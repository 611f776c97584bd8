"""Socket.io signaling for calls: authenticated connections, validated events, relay between admitted members.

The package knows nothing about consultations or databases: the host supplies a :class:`CallAuthority`
(``ports.py``) that decides who may join, be admitted and signal whom. Rooms are keyed by durable participant
ids, never by socket ids, so a reconnecting client gets its place back from the host's state.
"""

from .errors import Denied, InvalidMessage, RateLimited, SignalingError, WrongState
from .messages import Limits
from .ports import CallAuthority, Caller, JoinOutcome, MediaRelay, Member
from .server import NAMESPACE, CallSignaling

__all__ = [
    "CallSignaling",
    "NAMESPACE",
    "CallAuthority",
    "Caller",
    "Member",
    "JoinOutcome",
    "MediaRelay",
    "Limits",
    "SignalingError",
    "InvalidMessage",
    "Denied",
    "WrongState",
    "RateLimited",
]
