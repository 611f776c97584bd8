"""The consultation record in words: each lifecycle event of a consultation, as the practitioner reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["RecordEntry", "describe"]

_WORDS = {
    "created": "Consultation created.",
    "link.patient": "Patient link issued.",
    "link.guest": "Guest link issued.",
    "link.revoked": "A link was revoked.",
    "link.opened": "A link was opened: a participant arrived.",
    "waiting": "A participant is in the waiting room.",
    "started": "Call started.",
    "admitted": "A participant was admitted to the call.",
    "left": "A participant left the call.",
    "report": "Report saved.",
    "ended": "Consultation ended.",
    "interrupted": ("Call interrupted: the server handling it stopped unexpectedly (detected {at}). "
                    "The participants were reconnected and re-admitted from the record; the consultation went on."),
}


@dataclass(frozen=True)
class RecordEntry:
    at: datetime
    event: str
    actor: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "event": self.event, "actor": self.actor, "text": self.text}


def describe(event: str, at: datetime) -> str:
    """The sentence for one event (an unknown one is named as it is stored)."""
    words = _WORDS.get(event, f"Event: {event}.")
    return words.format(at=at.astimezone(UTC).strftime("%d/%m/%Y %H:%M:%S UTC"))
