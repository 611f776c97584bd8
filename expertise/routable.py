"""Which specialties each professional can be routed for, so that an import changing it can be audited.

A professional is routed second opinions in a specialty when their expertise profile accepts it, they are active,
and the directory says they practise it (an activity in that specialty, or the savoir-faire; the same rule as
:mod:`expertise.directory`). A directory import can change the last part without anybody touching the profile:
a GP whose profile accepts dermatology becomes routable as a dermatologist when the import gives them that
savoir-faire. Only professionals with a profile can be routed, so the snapshot stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .directory import _practises
from .models import Activity, Professional, ProfileSpecialty

__all__ = ["RoutingChange", "routable_specialties", "routing_changes"]

Routable = dict[str, frozenset[str]]


@dataclass(frozen=True)
class RoutingChange:
    """A professional's routable specialties before and after (both sorted)."""

    rpps: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def gained(self) -> tuple[str, ...]:
        return tuple(s for s in self.after if s not in self.before)

    def describe(self) -> str:
        return f"rpps:{self.rpps} routable {','.join(self.before) or '-'} -> {','.join(self.after) or '-'}"


async def routable_specialties(engine: AsyncEngine) -> Routable:
    """For every active professional with a profile: the accepted specialties they can be routed for now."""
    practised = exists().where(and_(Activity.rpps == ProfileSpecialty.rpps, _practises()))
    query = (select(ProfileSpecialty.rpps, ProfileSpecialty.specialty)
             .join(Professional, Professional.rpps == ProfileSpecialty.rpps)
             .where(Professional.active, practised))
    found: dict[str, set[str]] = {}
    async with engine.connect() as conn:
        for rpps, specialty in (await conn.execute(query)).all():
            found.setdefault(rpps, set()).add(specialty)
    return {rpps: frozenset(specialties) for rpps, specialties in found.items()}


def routing_changes(before: Routable, after: Routable) -> list[RoutingChange]:
    """Every professional whose routable specialties differ, in RPPS order."""
    empty: frozenset[str] = frozenset()
    return [RoutingChange(rpps, tuple(sorted(before.get(rpps, empty))), tuple(sorted(after.get(rpps, empty))))
            for rpps in sorted(before.keys() | after.keys()) if before.get(rpps, empty) != after.get(rpps, empty)]
