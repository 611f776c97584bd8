"""Directory queries used for routing: who can give a second opinion in a specialty, nearest first."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NamedTuple

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
    # 0 same commune, 1 same département, 2 neighbouring département, 3 same region, 4 national
    proximity: int
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


class _Member(NamedTuple):
    """A tuple on purpose: holding only strings, numbers, datetimes and tuples of them, the garbage collector stops
    tracking it after one pass, so the pools (~20,000 members in all) do not lengthen every full collection."""

    rpps: str
    name: str
    capacity: int
    languages: tuple[str, ...]
    sites: tuple[tuple[str | None, str | None], ...]  # (commune, département) by position
    absences: tuple[tuple[datetime, datetime], ...]


class _Pool:
    """A specialty's accepting professionals, ordered by RPPS and indexed by commune and département.

    A decision walks the rings around the requester's commune (commune, département, neighbours, region, then
    everyone) and stops once a ring completes ``limit`` candidates: it touches the few nearest members instead of
    computing every member's proximity (~1,400 for a common specialty). A member is placed in the first (nearest)
    ring one of their sites falls in, which is the SQL path's ``min(proximity)``; inside a ring the order is RPPS."""

    def __init__(self, loaded: float, absences_from: datetime, members: list[_Member]) -> None:
        self.loaded = loaded
        self.absences_from = absences_from
        self.members = tuple(sorted(members, key=lambda m: m.rpps))
        by_commune: dict[str, list[int]] = {}
        by_dep: dict[str, list[int]] = {}
        for index, member in enumerate(self.members):
            for commune, dep in member.sites:
                for key, index_of in ((commune, by_commune), (dep, by_dep)):
                    if key is not None:
                        positions = index_of.setdefault(key, [])
                        if not positions or positions[-1] != index:
                            positions.append(index)
        # Tuples of ints: untracked by the garbage collector, like the members.
        self._by_commune = {key: tuple(indexes) for key, indexes in by_commune.items()}
        self._by_dep = {key: tuple(indexes) for key, indexes in by_dep.items()}

    def _ring(self, deps: Collection[str]) -> Sequence[int]:
        if len(deps) == 1:
            return self._by_dep.get(next(iter(deps)), ())
        return sorted({i for dep in deps for i in self._by_dep.get(dep, ())})

    def rank(self, specialty: str, commune: str | None, at: datetime, language: str | None,
             exclude: Collection[str], limit: int) -> list[Candidate]:
        origin_dep = departement_of(commune) if commune else None
        neighbours: frozenset[str] = frozenset()
        region_deps: frozenset[str] = frozenset()
        rings: list[tuple[int, Sequence[int]]] = []
        if commune is not None and origin_dep is not None:
            places = territory()
            neighbours = places.neighbours.get(origin_dep, frozenset())
            region = places.region_of.get(origin_dep)
            region_deps = _region_departements(region) - {origin_dep} if region else frozenset()
            rings = [(SAME_COMMUNE, self._by_commune.get(commune, ())),
                     (SAME_DEPARTEMENT, self._by_dep.get(origin_dep, ())),
                     (NEIGHBOUR, self._ring(neighbours)), (SAME_REGION, self._ring(region_deps))]

        def level_of(site: tuple[str | None, str | None]) -> int:
            site_commune, dep = site
            if origin_dep is None:
                return NATIONAL
            if site_commune is not None and site_commune == commune:
                return SAME_COMMUNE
            if dep == origin_dep:
                return SAME_DEPARTEMENT
            return NEIGHBOUR if dep in neighbours else SAME_REGION if dep in region_deps else NATIONAL

        wanted = language.lower() if language else None
        excluded = set(exclude)
        seen: set[int] = set()
        found: list[Candidate] = []

        def take(level: int, indexes: Iterable[int]) -> bool:
            for index in indexes:
                if index in seen:
                    continue
                seen.add(index)
                member = self.members[index]
                if member.rpps in excluded or (wanted and wanted not in member.languages):
                    continue
                if member.absences and any(start <= at < end for start, end in member.absences):
                    continue
                site = min(member.sites, key=level_of)  # min keeps the first site (by position) on ties
                found.append(Candidate(rpps=member.rpps, name=member.name, specialty=specialty, commune=site[0],
                                       departement=site[1], proximity=level, capacity=member.capacity,
                                       languages=member.languages))
                if level == NATIONAL and len(found) >= limit:
                    return True
            return len(found) >= limit

        for level, indexes in rings:
            if take(level, indexes):
                return found[:limit]
        take(NATIONAL, range(len(self.members)))
        return found[:limit]


@cache
def _region_departements(region: str) -> frozenset[str]:
    return territory().region_departements(region)


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
            # The département as Territory.proximity derives it, once here rather than per decision.
            sites.setdefault(rpps, []).append(
                (site_commune, site_dep or (departement_of(site_commune) if site_commune else None)))
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
    members: list[_Member] = []
    for offset in range(0, len(people), _BUILD_SLICE):
        if offset:
            # A reload runs beside live decisions on the same event loop: build in slices, let them in between.
            await asyncio.sleep(0)
        members += [
            _Member(rpps, display_name(civility, given, family), int(capacity), tuple(spoken.get(rpps, ())),
                    tuple(sites[rpps]), tuple(away.get(rpps, ())))
            for rpps, capacity, civility, given, family in people[offset:offset + _BUILD_SLICE] if rpps in sites]
    await asyncio.sleep(0)
    return _Pool(loaded, since, members)


def _practises() -> ColumnElement[bool]:
    """The activities a professional can be routed from for the accepted specialty: those of that savoir-faire, or
    all of them when the savoir-faire file lists it for the professional (a person-level qualification, e.g. a
    DESC or a capacity, is not tied to one practice site)."""
    return or_(func.coalesce(Activity.specialty_code, "") == ProfileSpecialty.specialty,
               exists().where(SavoirFaire.rpps == ProfileSpecialty.rpps,
                              SavoirFaire.code == ProfileSpecialty.specialty))


_BUILD_SLICE = 300  # members built per slice (~1 ms)


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
