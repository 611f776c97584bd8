"""Explicit state machines for consultations and their participants: allowed transitions live here only."""

from __future__ import annotations

from ..platform.errors import Conflict

__all__ = ["CONSULTATION", "PARTICIPANT", "check_transition"]

CONSULTATION: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"in_progress", "ended", "cancelled"}),
    "in_progress": frozenset({"ended"}),
    "ended": frozenset(),
    "cancelled": frozenset(),
}

# checking = link exchanged, device check running; waiting = in the waiting room; admitted = may join the call.
# admitted -> waiting: the same participant session joined from a second device; the professional admits again.
PARTICIPANT: dict[str, frozenset[str]] = {
    "checking": frozenset({"waiting", "left", "removed"}),
    "waiting": frozenset({"admitted", "left", "removed"}),
    "admitted": frozenset({"waiting", "left", "removed"}),
    "left": frozenset({"waiting", "removed"}),
    "removed": frozenset(),
}


def check_transition(machine: dict[str, frozenset[str]], current: str, target: str, what: str) -> None:
    """Raise :class:`Conflict` unless ``current → target`` is allowed (a same-state move is a no-op)."""
    if current != target and target not in machine.get(current, frozenset()):
        raise Conflict(f"{what} cannot go from {current} to {target}")
