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
        # One statement: driven by the (small) accepted-specialty table, each professional's nearest matching
        # practice picked by a window, names, capacity and languages joined in.
        conditions = [
            ProfileSpecialty.specialty == specialty,
            ~exists().where(Absence.rpps == ProfileSpecialty.rpps, Absence.starts_at <= at, Absence.ends_at > at),
        ]
        if language is not None:
            conditions.append(exists().where(ProfileLanguage.rpps == ProfileSpecialty.rpps,
                                             ProfileLanguage.language == language.lower()))
        if exclude:
            conditions.append(ProfileSpecialty.rpps.not_in(list(exclude)))
        sites = (
            select(Activity.rpps, Activity.commune, Activity.departement, proximity.label("proximity"),
                   func.row_number().over(partition_by=Activity.rpps,
                                          order_by=(proximity, Activity.position)).label("rank"))
            .select_from(ProfileSpecialty)
            # coalesce() on purpose: it hides the specialty from the planners' index choice, so they start from the
            # small accepted-specialty table instead of scanning every activity line of the specialty (48 k rows
            # for a common one in the national file), then reach activities through (rpps, specialty).
            .join(Activity, and_(Activity.rpps == ProfileSpecialty.rpps,
                                 func.coalesce(Activity.specialty_code, "") == ProfileSpecialty.specialty))
            .where(*conditions)
            .subquery("sites")
        )
        languages = (select(func.aggregate_strings(ProfileLanguage.language, ","))
                     .where(ProfileLanguage.rpps == sites.c.rpps).scalar_subquery())
        query = (
            select(sites.c.rpps, sites.c.commune, sites.c.departement, sites.c.proximity, Professional.civility_code,
                   Professional.given_name, Professional.family_name, Profile.capacity, languages)
            .join(Professional, Professional.rpps == sites.c.rpps)
            .join(Profile, Profile.rpps == sites.c.rpps)
            .where(sites.c.rank == 1)
            .order_by(sites.c.proximity, sites.c.rpps)
            .limit(limit)
        )
        async with self._sessions() as session:
            # A bare connection rather than the ORM session: fewer driver round trips per decision.
            connection = await session.connection()
            rows = (await connection.execute(query)).all()
        return [Candidate(rpps=rpps, name=display_name(civility, given, family), specialty=specialty,
                          commune=site_commune, departement=site_dep, proximity=int(level), capacity=int(capacity),
                          languages=tuple(sorted(spoken.split(","))) if spoken else ())
                for rpps, site_commune, site_dep, level, civility, given, family, capacity, spoken in rows]


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
