"""Expertise profiles: what a professional in the directory accepts (capacity, languages, specialties, absences).

A professional without a profile, or with no accepted specialty, is never routed to. Accepted specialties must be
savoir-faire codes the professional holds in the directory: on an activity line of the ``Personne_activite`` extract
or in the ``SavoirFaire`` file (a DESC, a capacity, a competence...). An inactive professional (no longer in the
extract, see ``directory_prune``) cannot change the profile: they are not routed to anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .directory import display_name
from .directory_errors import InvalidProfile, ProfessionalNotFound
from .models import Absence, Activity, Professional, Profile, ProfileLanguage, ProfileSpecialty, SavoirFaire

__all__ = ["Profiles", "ProfileView", "ProfileUpdate", "AbsenceView", "MAX_CAPACITY"]

MAX_CAPACITY = 50
MAX_LANGUAGES = 12
MAX_SPECIALTIES = 20
MAX_ABSENCES = 50
MAX_ABSENCE = timedelta(days=366)
_LANGUAGE = re.compile(r"^[a-z]{2}$")


@dataclass(frozen=True)
class AbsenceView:
    id: int
    starts_at: datetime
    ends_at: datetime
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
                "note": self.note}


@dataclass(frozen=True)
class ProfileView:
    rpps: str
    name: str
    capacity: int
    languages: tuple[str, ...]
    specialties: tuple[str, ...]                  # accepted for tele-expertise
    held_specialties: tuple[tuple[str, str], ...]  # (code, label) from the directory
    absences: tuple[AbsenceView, ...]
    active: bool = True                           # False once pruned from the directory (not routed to)

    def to_json(self) -> dict[str, Any]:
        return {"rpps": self.rpps, "name": self.name, "active": self.active, "capacity": self.capacity,
                "languages": list(self.languages),
                "specialties": list(self.specialties),
                "held_specialties": [{"code": c, "label": label} for c, label in self.held_specialties],
                "absences": [a.to_json() for a in self.absences]}


@dataclass(frozen=True)
class ProfileUpdate:
    capacity: int
    languages: tuple[str, ...]
    specialties: tuple[str, ...]

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ProfileUpdate:
        """Validate a JSON object ``{capacity, languages, specialties}``; the message names the bad field."""
        capacity = data.get("capacity")
        if not isinstance(capacity, int) or isinstance(capacity, bool) or not 0 <= capacity <= MAX_CAPACITY:
            raise InvalidProfile(f"capacity must be an integer from 0 to {MAX_CAPACITY}")
        languages = data.get("languages", [])
        if (not isinstance(languages, list) or len(languages) > MAX_LANGUAGES
                or not all(isinstance(x, str) and _LANGUAGE.match(x) for x in languages)):
            raise InvalidProfile(f"languages must be a list of at most {MAX_LANGUAGES} ISO 639-1 codes (e.g. \"fr\")")
        specialties = data.get("specialties", [])
        if (not isinstance(specialties, list) or len(specialties) > MAX_SPECIALTIES
                or not all(isinstance(x, str) and 0 < len(x) <= 16 for x in specialties)):
            raise InvalidProfile(f"specialties must be a list of at most {MAX_SPECIALTIES} savoir-faire codes")
        return cls(capacity, tuple(sorted(set(languages))), tuple(sorted(set(specialties))))


class Profiles:
    """``on_change`` runs after every committed change (the host wires :meth:`Directory.invalidate` to it)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self._sessions = sessions
        self._on_change = on_change

    async def get(self, rpps: str, now: datetime) -> ProfileView:
        """The profile (defaults when none is set yet) with the absences that have not ended at ``now``."""
        async with self._sessions() as session:
            return await _view(session, rpps, now)

    async def update(self, rpps: str, update: ProfileUpdate, now: datetime) -> ProfileView:
        async with self._sessions.begin() as session:
            person = await _person(session, rpps)
            if not person.active:
                raise InvalidProfile("this professional is no longer listed in the national directory extract "
                                     "(inactive): the profile cannot be changed")
            held = {code for code, _ in await _held(session, person.rpps)}
            unknown = sorted(set(update.specialties) - held)
            if unknown:
                raise InvalidProfile(f"specialties {', '.join(unknown)} are not held by this professional in the "
                                     "directory")
            profile = await _ensure(session, rpps, now)
            profile.capacity = update.capacity
            profile.updated_at = now
            await session.execute(delete(ProfileLanguage).where(ProfileLanguage.rpps == rpps))
            await session.execute(delete(ProfileSpecialty).where(ProfileSpecialty.rpps == rpps))
            session.add_all([ProfileLanguage(rpps=rpps, language=x) for x in update.languages])
            session.add_all([ProfileSpecialty(rpps=rpps, specialty=x) for x in update.specialties])
        self._on_change()
        return await self.get(rpps, now)

    async def add_absence(self, rpps: str, starts_at: datetime, ends_at: datetime, note: str,
                          now: datetime) -> AbsenceView:
        if starts_at.tzinfo is None or ends_at.tzinfo is None:
            raise InvalidProfile("absence times need a time zone offset")
        if ends_at <= starts_at or ends_at - starts_at > MAX_ABSENCE:
            raise InvalidProfile("an absence must end after it starts and last at most 366 days")
        if ends_at <= now:
            raise InvalidProfile("the absence is already over")
        if len(note) > 200:
            raise InvalidProfile("the note is limited to 200 characters")
        async with self._sessions.begin() as session:
            await _person(session, rpps)
            await _ensure(session, rpps, now)
            current = await session.scalar(select(func.count()).select_from(Absence)
                                           .where(Absence.rpps == rpps, Absence.ends_at > now))
            if (current or 0) >= MAX_ABSENCES:
                raise InvalidProfile(f"at most {MAX_ABSENCES} current or future absences")
            absence = Absence(rpps=rpps, starts_at=starts_at, ends_at=ends_at, note=note)
            session.add(absence)
            await session.flush()
            view = AbsenceView(absence.id, absence.starts_at, absence.ends_at, absence.note)
        self._on_change()
        return view

    async def remove_absence(self, rpps: str, absence_id: int) -> None:
        async with self._sessions.begin() as session:
            removed = await session.execute(delete(Absence).where(Absence.id == absence_id, Absence.rpps == rpps))
            if not getattr(removed, "rowcount", 0):
                raise ProfessionalNotFound("no such absence in this profile")
        self._on_change()


async def _person(session: AsyncSession, rpps: str) -> Professional:
    person = await session.get(Professional, rpps)
    if person is None:
        raise ProfessionalNotFound(f"RPPS {rpps} is not in the directory (import it first)")
    return person


async def _held(session: AsyncSession, rpps: str) -> list[tuple[str, str]]:
    """(code, label) of every savoir-faire held: activity lines first, then the savoir-faire file's."""
    rows = await session.execute(select(Activity.specialty_code, func.max(Activity.specialty))
                                 .where(Activity.rpps == rpps, Activity.specialty_code.is_not(None))
                                 .group_by(Activity.specialty_code).order_by(Activity.specialty_code))
    held = {str(code): str(label or "") for code, label in rows.all()}
    for code, label in (await session.execute(select(SavoirFaire.code, SavoirFaire.label)
                                              .where(SavoirFaire.rpps == rpps)
                                              .order_by(SavoirFaire.code))).all():
        if not held.get(code):
            held[code] = label or ""
    return sorted(held.items())


async def _ensure(session: AsyncSession, rpps: str, now: datetime) -> Profile:
    profile = await session.get(Profile, rpps)
    if profile is None:
        profile = Profile(rpps=rpps, capacity=3, updated_at=now)
        session.add(profile)
        await session.flush()
    return profile


async def _view(session: AsyncSession, rpps: str, now: datetime) -> ProfileView:
    person = await _person(session, rpps)
    profile = await session.get(Profile, rpps)
    languages = tuple((await session.scalars(select(ProfileLanguage.language).where(ProfileLanguage.rpps == rpps)
                                             .order_by(ProfileLanguage.language))).all())
    specialties = tuple((await session.scalars(select(ProfileSpecialty.specialty)
                                               .where(ProfileSpecialty.rpps == rpps)
                                               .order_by(ProfileSpecialty.specialty))).all())
    absences = tuple(AbsenceView(a.id, a.starts_at, a.ends_at, a.note) for a in await session.scalars(
        select(Absence).where(Absence.rpps == rpps, Absence.ends_at > now).order_by(Absence.starts_at)))
    return ProfileView(rpps, display_name(person.civility_code, person.given_name, person.family_name),
                       profile.capacity if profile else 0, languages, specialties,
                       tuple(await _held(session, rpps)), absences, person.active)
