"""The lifecycle of a second-opinion request: every allowed transition is listed here and nowhere else.

::

    submitted ──► offered ──► accepted ⇄ info_requested
        │           │  ▲          │
        │           ▼  │          ├──► answered ──► closed
        │      declined/expired   │
        │           │             └──► escalated (answer deadline passed) ──► offered (re-routed)
        └──► escalated (nobody left to offer it to)

Any open state can be ``cancelled`` by the requester. ``declined`` and ``expired`` are short-lived: the router
moves the request on at once to the next candidate (``offered``) or, when nobody is left, to ``escalated``.
"""

from __future__ import annotations

from .request_errors import InvalidTransition

__all__ = ["TRANSITIONS", "OPEN_STATES", "ASSIGNED_STATES", "TERMINAL_STATES", "STATES", "check_transition"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "submitted": frozenset({"offered", "escalated", "cancelled"}),
    "offered": frozenset({"accepted", "declined", "expired", "cancelled"}),
    "declined": frozenset({"offered", "escalated", "cancelled"}),
    "expired": frozenset({"offered", "escalated", "cancelled"}),
    "accepted": frozenset({"info_requested", "answered", "escalated", "cancelled"}),
    "info_requested": frozenset({"accepted", "escalated", "cancelled"}),
    "escalated": frozenset({"offered", "cancelled"}),
    "answered": frozenset({"closed"}),
    "closed": frozenset(),
    "cancelled": frozenset(),
}
STATES = frozenset(TRANSITIONS)
TERMINAL_STATES = frozenset({"closed", "cancelled"})
OPEN_STATES = STATES - TERMINAL_STATES - {"answered"}
# States in which a specialist holds the request: they count towards that specialist's load (capacity).
ASSIGNED_STATES = frozenset({"offered", "accepted", "info_requested"})


def check_transition(current: str, target: str) -> None:
    """Raise :class:`InvalidTransition` unless ``current → target`` is allowed (no silent same-state moves)."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(current, target)
