"""Response deadlines per urgency, and the kinds of durable timers they create.

A policy gives each urgency two durations: how long a specialist has to accept an offer before it goes to the next
candidate, and how long the request may take to be answered (French rule: at most 7 days; our defaults are far
shorter, see :data:`DEFAULT_DEADLINES`). A reminder goes to the specialist when 3/4 of the answer window is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .request_errors import InvalidRequest

__all__ = ["Deadline", "DeadlinePolicy", "DEFAULT_DEADLINES", "LEGAL_MAX_ANSWER", "TIMER_KINDS",
           "OFFER_EXPIRY", "ANSWER_REMINDER", "ANSWER_ESCALATION", "REROUTE"]

OFFER_EXPIRY = "offer_expiry"
ANSWER_REMINDER = "answer_reminder"
ANSWER_ESCALATION = "answer_escalation"
REROUTE = "reroute"  # an escalated request nobody could take: try routing it again
TIMER_KINDS = (OFFER_EXPIRY, ANSWER_REMINDER, ANSWER_ESCALATION, REROUTE)
LEGAL_MAX_ANSWER = timedelta(days=7)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d{1,6})([smhd])$")


@dataclass(frozen=True)
class Deadline:
    offer: timedelta
    answer: timedelta

    def __post_init__(self) -> None:
        if self.offer <= timedelta(0) or self.answer <= timedelta(0):
            raise InvalidRequest("deadlines must be positive")
        if self.answer > LEGAL_MAX_ANSWER:
            raise InvalidRequest("the answer deadline may not exceed the legal maximum of 7 days")
        if self.offer > self.answer:
            raise InvalidRequest("the time to accept an offer may not exceed the answer deadline")


DEFAULT_DEADLINES: dict[str, Deadline] = {
    # Published goals: median answer < 21 h (Champlain BASE); a quarter of French requests take > 5 days.
    "urgent": Deadline(offer=timedelta(minutes=30), answer=timedelta(hours=4)),
    "soon": Deadline(offer=timedelta(hours=2), answer=timedelta(hours=24)),
    "routine": Deadline(offer=timedelta(hours=8), answer=timedelta(hours=72)),
}


@dataclass(frozen=True)
class DeadlinePolicy:
    deadlines: tuple[tuple[str, Deadline], ...] = tuple(DEFAULT_DEADLINES.items())

    @property
    def urgencies(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.deadlines)

    def for_urgency(self, urgency: str) -> Deadline:
        for name, deadline in self.deadlines:
            if name == urgency:
                return deadline
        raise InvalidRequest(f"urgency must be one of {', '.join(self.urgencies)}")

    def answer_due(self, urgency: str, submitted: datetime) -> datetime:
        return submitted + self.for_urgency(urgency).answer

    def reminder_at(self, accepted: datetime, due: datetime) -> datetime:
        return accepted + (due - accepted) * 3 / 4

    @classmethod
    def parse(cls, spec: str) -> DeadlinePolicy:
        """``"urgent=30m/4h,routine=8h/72h"``: overrides the defaults for the urgencies named (offer/answer)."""
        table = dict(DEFAULT_DEADLINES)
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, durations = part.partition("=")
            offer, _, answer = durations.partition("/")
            if name not in table:
                raise InvalidRequest(f"unknown urgency {name!r} in the deadline setting")
            table[name] = Deadline(_duration(offer), _duration(answer))
        return cls(tuple(table.items()))


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidRequest(f"duration {text!r} must look like 30s, 45m, 4h or 2d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
