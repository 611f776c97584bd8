"""What signaling needs from its host. The host (``server/``) implements :class:`CallAuthority`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Caller", "Member", "JoinOutcome", "CallAuthority", "MediaRelay"]


@dataclass(frozen=True)
class Caller:
    """Who opened the socket, as authenticated by the host (``ref`` is opaque to signaling). ``session`` names the
    login session it was opened with: the socket joins room ``s:<session>`` so the host can close every socket of a
    session that ended (logout, deactivation, expiry)."""

    ref: str
    professional: bool
    session: str = ""
    remote: str = ""  # the client's address as the server saw it, for the host's audit log


@dataclass(frozen=True)
class Member:
    """A caller's place in one consultation. ``staff`` members see the waiting room and admit others."""

    participant_id: str
    consultation_id: str
    kind: str
    label: str
    state: str
    staff: bool
    instance: str = ""

    def public(self) -> dict[str, str]:
        return {"id": self.participant_id, "kind": self.kind, "label": self.label, "instance": self.instance}


@dataclass(frozen=True)
class JoinOutcome:
    member: Member
    # Extra fields for the ``join`` acknowledgement (ICE configuration, chat history, consultation status).
    extra: Mapping[str, Any] = field(default_factory=dict)
    # The connection this join displaces: the member's socket on another device (same session, other instance).
    # Signaling tells it (``replaced``), closes it, and tells the staff (``second-device``).
    replaced: str | None = None


class CallAuthority(Protocol):
    async def authenticate(self, environ: Mapping[str, Any]) -> Caller | None:
        """The caller for a connection (from its cookie), or ``None`` to refuse it."""
        ...

    async def session_live(self, caller: Caller) -> bool:
        """Whether the session the socket was opened with still holds. Asked before every event (the ``signal``
        hot path included): answer from memory where possible, yet within a second of a revocation."""
        ...

    async def join(self, caller: Caller, consultation_id: str | None, instance: str) -> JoinOutcome:
        """Bind the caller to its consultation; raise ``SignalingError`` subclasses to refuse."""
        ...

    async def ready(self, member: Member) -> Member:
        """The participant passed the device check and enters the waiting room."""
        ...

    async def admit(self, member: Member, participant_id: str) -> Member:
        """A staff member admits a waiting participant; returns the admitted member."""
        ...

    async def enter(self, member: Member) -> tuple[Member, list[Member]]:
        """An admitted member enters the call; returns it and the other members already in the call."""
        ...

    async def chat_so_far(self, member: Member) -> list[dict[str, Any]]:
        """The consultation's chat until now, for a member who just entered the call: after hanging up and
        being admitted again, its ``join`` acknowledgement carried none."""
        ...

    async def signal_route(self, member: Member, to: str) -> bool | None:
        """``None`` when ``member`` may not signal participant ``to`` (same call, both admitted); otherwise
        whether ``to`` currently has a connected socket (any process), so senders know to retry."""
        ...

    async def chat(self, member: Member, text: str) -> dict[str, Any]:
        """Persist a chat message and return it as sent to the room."""
        ...

    async def leave(self, member: Member) -> None:
        """The member hung up."""
        ...

    async def presence(self, member: Member, online: bool, connection: str) -> None:
        """The member's socket ``connection`` joined, or went away. A participant who reconnected before its old
        socket timed out stays online: only the connection that joined last may take it offline."""
        ...

    async def waiting_room(self, consultation_id: str) -> list[dict[str, Any]]:
        """Participants other than staff, for the ``waiting-room`` event."""
        ...


class MediaRelay(Protocol):
    """Server-side media for a pair of members whose browsers cannot reach each other (or when relay is forced).

    ``connection`` is the socket that made the request, so that the loss of an old socket does not close peers a
    newer one created. Implementations check membership themselves on every call and raise ``SignalingError``
    subclasses to refuse.
    """

    async def publish(self, member: Member, to: str, offer_sdp: str, connection: str) -> str:
        """``member`` sends its media for participant ``to`` through the server; returns the SDP answer."""
        ...

    async def subscribe(self, member: Member, publisher: str, offer_sdp: str, connection: str) -> str:
        """``member`` receives what ``publisher`` publishes for it; returns the SDP answer."""
        ...

    async def release(self, member: Member, connection: str | None) -> None:
        """Close ``member``'s relay peers (those made on ``connection``, or all of them when ``None``)."""
        ...

    async def end(self, consultation_id: str) -> None:
        """Close every relay peer of the consultation."""
        ...
