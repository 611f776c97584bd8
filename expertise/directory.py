"""Directory queries used for routing: who can give a second opinion in a specialty, nearest first."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import Absence, Activity, Professional, Profile, ProfileLanguage, ProfileSpecialty, SavoirFaire
from .territory import NATIONAL, NEIGHBOUR, SAME_COMMUNE, SAME_DEPARTEMENT, SAME_REGION, departement_of, territory

__all__ = ["Candidate", "Directory", "display_name"]

logger = logging.getLogger(__name__)

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
    """Read side of the directory for routing.

    ``pool_ttl`` > 0 keeps, per specialty, the pool of professionals accepting it (sites, capacity, languages,
    absences) for that many seconds and ranks in memory: a national directory has about 1,400 accepting
    professionals for a common specialty, and ranking them in SQL on every decision cost ~20 ms. A change made
    through :class:`Profiles` of this process calls :meth:`invalidate`; other processes see changes after the TTL.
    ``pool_ttl`` = 0 (the default) answers every call from the database.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, pool_ttl: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._ttl = pool_ttl
        self._monotonic = monotonic
        self._pools: dict[str, _Pool] = {}
        self._reloads: dict[str, asyncio.Task[None]] = {}

    def invalidate(self) -> None:
        """Forget every cached pool (after a profile, absence or directory change): the next call reloads."""
        self._pools.clear()

    async def close(self) -> None:
        """Stop background pool reloads (the host calls it before disposing of the engine)."""
        tasks = list(self._reloads.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._reloads.clear()

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
        if self._ttl > 0:
            pool = await self._pool(specialty, at)
            if pool is not None:
                return pool.rank(specialty, commune, at, language, exclude, limit)
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
            .join(Activity, and_(Activity.rpps == ProfileSpecialty.rpps, _practises()))
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
            .where(sites.c.rank == 1, Professional.active)
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


    async def _pool(self, specialty: str, at: datetime) -> _Pool | None:
        pool = self._pools.get(specialty)
        now = self._monotonic()
        if pool is None:
            pool = await _load_pool(self._sessions, specialty, at, now)
            self._pools[specialty] = pool
        elif now - pool.loaded > self._ttl and specialty not in self._reloads:
            # Serve the expired pool once more while a fresh one loads in the background: no decision waits for a
            # reload (staleness stays under two TTLs).
            task = asyncio.create_task(self._reload(specialty, at, now), name=f"directory-pool-{specialty}")
            self._reloads[specialty] = task
        # Absences are loaded from a day before the loading decision's time: older questions go to the database.
        return pool if at >= pool.absences_from else None

    async def _reload(self, specialty: str, at: datetime, now: float) -> None:
        try:
            pool = await _load_pool(self._sessions, specialty, at, now)
            if specialty in self._pools:  # not invalidated meanwhile (then the next call loads afresh)
                self._pools[specialty] = pool
        except Exception:
            logger.exception("reloading the %s routing pool failed; the expired pool is kept", specialty)
        finally:
            self._reloads.pop(specialty, None)


@dataclass(frozen=True)
class _Member:
    rpps: str
    name: str
    capacity: int
    languages: tuple[str, ...]
    sites: tuple[tuple[str | None, str | None], ...]  # (commune, département) by position
    absences: tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True)
class _Pool:
    loaded: float
    absences_from: datetime
    members: tuple[_Member, ...]

    def rank(self, specialty: str, commune: str | None, at: datetime, language: str | None,
             exclude: Collection[str], limit: int) -> list[Candidate]:
        places = territory()
        wanted = language.lower() if language else None
        excluded = set(exclude)
        found = []
        for member in self.members:
            if member.rpps in excluded or (wanted and wanted not in member.languages):
                continue
            if any(start <= at < end for start, end in member.absences):
                continue
            level, site = min(((places.proximity(commune, c, d), i) for i, (c, d) in enumerate(member.sites)))
            found.append((level, member.rpps, member, member.sites[site]))
        found.sort(key=lambda item: (item[0], item[1]))
        return [Candidate(rpps=m.rpps, name=m.name, specialty=specialty, commune=site[0], departement=site[1],
                          proximity=level, capacity=m.capacity, languages=m.languages)
                for level, _, m, site in found[:limit]]


async def _load_pool(sessions: async_sessionmaker[AsyncSession], specialty: str, at: datetime,
                     loaded: float) -> _Pool:
    accepting = select(ProfileSpecialty.rpps).where(ProfileSpecialty.specialty == specialty)
    since = at - timedelta(days=1)
    async with sessions() as session:
        connection = await session.connection()
        sites: dict[str, list[tuple[str | None, str | None]]] = {}
        for rpps, site_commune, site_dep in (await connection.execute(
                select(Activity.rpps, Activity.commune, Activity.departement)
                .select_from(ProfileSpecialty)
                .join(Activity, and_(Activity.rpps == ProfileSpecialty.rpps, _practises()))
                .where(ProfileSpecialty.specialty == specialty)
                .order_by(Activity.rpps, Activity.position))).all():
            sites.setdefault(rpps, []).append((site_commune, site_dep))
        people = (await connection.execute(
            select(Profile.rpps, Profile.capacity, Professional.civility_code, Professional.given_name,
                   Professional.family_name)
            .join(Professional, Professional.rpps == Profile.rpps)
            .where(Profile.rpps.in_(accepting), Professional.active))).all()
        spoken: dict[str, list[str]] = {}
        for rpps, lang in (await connection.execute(
                select(ProfileLanguage.rpps, ProfileLanguage.language)
                .where(ProfileLanguage.rpps.in_(accepting)).order_by(ProfileLanguage.language))).all():
            spoken.setdefault(rpps, []).append(lang)
        away: dict[str, list[tuple[datetime, datetime]]] = {}
        for rpps, start, end in (await connection.execute(
                select(Absence.rpps, Absence.starts_at, Absence.ends_at)
                .where(Absence.rpps.in_(accepting), Absence.ends_at > since))).all():
            away.setdefault(rpps, []).append((_aware(start), _aware(end)))
    members = tuple(
        _Member(rpps, display_name(civility, given, family), int(capacity), tuple(spoken.get(rpps, ())),
                tuple(sites[rpps]), tuple(away.get(rpps, ())))
        for rpps, capacity, civility, given, family in people if rpps in sites)
    return _Pool(loaded, since, members)


def _practises() -> ColumnElement[bool]:
    """The activities a professional can be routed from for the accepted specialty: those of that savoir-faire, or
    all of them when the savoir-faire file lists it for the professional (a person-level qualification, e.g. a
    DESC or a capacity, is not tied to one practice site)."""
    return or_(func.coalesce(Activity.specialty_code, "") == ProfileSpecialty.specialty,
               exists().where(SavoirFaire.rpps == ProfileSpecialty.rpps,
                              SavoirFaire.code == ProfileSpecialty.specialty))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
