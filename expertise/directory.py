"""Directory queries used for routing: who can give a second opinion in a specialty, nearest first."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import Absence, Activity, Professional, Profile, ProfileLanguage, ProfileSpecialty
from .territory import NATIONAL, NEIGHBOUR, SAME_COMMUNE, SAME_DEPARTEMENT, SAME_REGION, departement_of, territory

__all__ = ["Candidate", "Directory", "display_name"]

_PREFIXES = {"DR": "Dr", "PR": "Pr"}


@dataclass(frozen=True)
class Candidate:
    """A professional who may be offered a request, with the proximity of their nearest matching practice."""

    rpps: str                     # 11-digit RPPS identifier
    name: str                     # display name, e.g. "Dr Inès Moreau"
    specialty: str                # the specialty code routed on (savoir-faire code, e.g. "SM54")
    commune: str | None           # INSEE code of the practice
    departement: str | None
    proximity: int                # 0 same commune, 1 same département, 2 neighbouring département, 3 same region, 4 national
    capacity: int                 # max open requests at once (profile)
    languages: tuple[str, ...]    # ISO 639-1 codes


def display_name(civility_code: str, given_name: str, family_name: str) -> str:
    parts = [_PREFIXES.get(civility_code.upper(), ""), given_name.strip(), family_name.strip()]
    return " ".join(p for p in parts if p)


class Directory:
    """Read side of the directory for routing. Stateless apart from the session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def candidates(self, specialty: str, commune: str | None, at: datetime, *,
                         language: str | None = None, exclude: Collection[str] = (),
                         limit: int = 50) -> list[Candidate]:
        """Professionals with ``specialty`` in the directory whose profile accepts tele-expertise for it, not
        absent at ``at``, speaking ``language`` if given, not in ``exclude``; nearest to ``commune`` first, then
        by RPPS (a stable tie-break). Load is not considered here (the request side counts it)."""
        if at.tzinfo is None:
            raise ValueError("'at' must be timezone-aware")
        if limit <= 0:
            return []
        proximity = _proximity_expression(commune)
        best = func.min(proximity).label("proximity")
        conditions = [
            Activity.specialty_code == specialty,
            ProfileSpecialty.specialty == specialty,
            ~exists().where(Absence.rpps == Activity.rpps, Absence.starts_at <= at, Absence.ends_at > at),
        ]
        if language is not None:
            conditions.append(exists().where(ProfileLanguage.rpps == Activity.rpps,
                                             ProfileLanguage.language == language.lower()))
        if exclude:
            conditions.append(Activity.rpps.not_in(list(exclude)))
        ranked = (
            select(Activity.rpps, best)
            .join(ProfileSpecialty, ProfileSpecialty.rpps == Activity.rpps)
            .where(*conditions)
            .group_by(Activity.rpps)
            .order_by(best, Activity.rpps)
            .limit(limit)
        )
        async with self._sessions() as session:
            top = [(rpps, int(level)) for rpps, level in (await session.execute(ranked)).all()]
            if not top:
                return []
            return await _details(session, top, specialty, commune)


def _proximity_expression(commune: str | None) -> ColumnElement[int]:
    origin_dep = departement_of(commune) if commune else None
    if commune is None or origin_dep is None:
        return literal(NATIONAL)
    places = territory()
    region = places.region_of.get(origin_dep)
    same_region = sorted(places.region_departements(region) - {origin_dep}) if region else []
    neighbours = sorted(places.neighbours.get(origin_dep, frozenset()))
    whens: list[tuple[ColumnElement[bool], int]] = [
        (Activity.commune == commune, SAME_COMMUNE),
        (Activity.departement == origin_dep, SAME_DEPARTEMENT),
    ]
    if neighbours:
        whens.append((Activity.departement.in_(neighbours), NEIGHBOUR))
    if same_region:
        whens.append((Activity.departement.in_(same_region), SAME_REGION))
    return case(*whens, else_=NATIONAL)


async def _details(session: AsyncSession, top: list[tuple[str, int]], specialty: str,
                   commune: str | None) -> list[Candidate]:
    rpps_list = [rpps for rpps, _ in top]
    people = {p.rpps: p for p in await session.scalars(select(Professional).where(Professional.rpps.in_(rpps_list)))}
    capacity = dict((await session.execute(select(Profile.rpps, Profile.capacity)
                                           .where(Profile.rpps.in_(rpps_list)))).all())
    languages: dict[str, list[str]] = {}
    for rpps, lang in (await session.execute(select(ProfileLanguage.rpps, ProfileLanguage.language)
                                             .where(ProfileLanguage.rpps.in_(rpps_list))
                                             .order_by(ProfileLanguage.rpps, ProfileLanguage.language))).all():
        languages.setdefault(rpps, []).append(lang)
    places: dict[str, tuple[int, str | None, str | None]] = {}
    sites = select(Activity.rpps, Activity.commune, Activity.departement, Activity.position).where(
        and_(Activity.rpps.in_(rpps_list), Activity.specialty_code == specialty)).order_by(Activity.position)
    where = territory()
    for rpps, site_commune, site_dep, _ in (await session.execute(sites)).all():
        level = where.proximity(commune, site_commune, site_dep)
        if rpps not in places or level < places[rpps][0]:
            places[rpps] = (level, site_commune, site_dep)
    result = []
    for rpps, level in top:
        person = people[rpps]
        _, site_commune, site_dep = places.get(rpps, (level, None, None))
        result.append(Candidate(
            rpps=rpps, name=display_name(person.civility_code, person.given_name, person.family_name),
            specialty=specialty, commune=site_commune, departement=site_dep, proximity=level,
            capacity=int(capacity.get(rpps, 0)), languages=tuple(languages.get(rpps, ())),
        ))
    return result
