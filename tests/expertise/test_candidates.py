"""Directory.candidates on both databases: specialty, profile, absence, language, exclusion and proximity order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from expertise import Candidate, Directory
from expertise.models import Absence, Activity, Professional, Profile, ProfileLanguage, ProfileSpecialty

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=[0.0, 60.0], ids=["sql", "pooled"])
def pool_ttl(request: pytest.FixtureRequest) -> float:
    """Every ordering and filter holds for the SQL path and for the cached in-memory pool."""
    return float(request.param)


async def seed(sessions: Any, rpps: str, family: str, sites: list[tuple[str, str, str]], *,
               accepts: list[str] | None = None, languages: list[str] = ["fr"], capacity: int = 3) -> None:
    """``sites``: (specialty code, commune, département) per activity line; ``accepts`` None = no profile."""
    async with sessions.begin() as session:
        session.add(Professional(rpps=rpps, national_id="8" + rpps, civility_code="DR", civility="Docteur",
                                 family_name=family, given_name="Ana", source="rpps", row_hash="x", updated_at=NOW))
        await session.flush()
        for position, (specialty, commune, dep) in enumerate(sites):
            session.add(Activity(rpps=rpps, position=position, profession_code="10", specialty_code=specialty,
                                 commune=commune, departement=dep, postal_code=None))
        if accepts is not None:
            session.add(Profile(rpps=rpps, capacity=capacity, updated_at=NOW))
            await session.flush()
            session.add_all([ProfileSpecialty(rpps=rpps, specialty=s) for s in accepts])
            session.add_all([ProfileLanguage(rpps=rpps, language=lang) for lang in languages])


async def test_candidates_filter_and_order_by_proximity(db: Any, pool_ttl: float) -> None:
    _, sessions = db
    derm = "SM16"
    await seed(sessions, "10000000009", "National", [(derm, "75056", "75")], accepts=[derm])
    await seed(sessions, "10000000008", "Region", [(derm, "63113", "63")], accepts=[derm], languages=["fr", "en"])
    await seed(sessions, "10000000007", "Voisin", [(derm, "38185", "38")], accepts=[derm], capacity=5)
    await seed(sessions, "10000000006", "Departement", [(derm, "69266", "69")], accepts=[derm])
    # Two sites: the nearest one (Lyon itself) counts.
    await seed(sessions, "10000000005", "Commune", [(derm, "13055", "13"), (derm, "69123", "69")], accepts=[derm])
    await seed(sessions, "10000000004", "Commune2", [(derm, "69123", "69")], accepts=[derm])
    await seed(sessions, "10000000003", "SansProfil", [(derm, "69123", "69")], accepts=None)
    await seed(sessions, "10000000002", "AutreSpecialite", [(derm, "69123", "69")], accepts=["SM53"])
    await seed(sessions, "10000000001", "Cardio", [("SM04", "69123", "69")], accepts=[derm])

    directory = Directory(sessions, pool_ttl=pool_ttl)
    found = await directory.candidates(derm, "69123", NOW)
    assert [(c.rpps, c.proximity) for c in found] == [
        ("10000000004", 0), ("10000000005", 0), ("10000000006", 1), ("10000000007", 2), ("10000000008", 3),
        ("10000000009", 4)]
    assert found[1] == Candidate(rpps="10000000005", name="Dr Ana Commune", specialty=derm, commune="69123",
                                 departement="69", proximity=0, capacity=3, languages=("fr",))
    assert found[3].capacity == 5
    assert found[4].languages == ("en", "fr")

    assert [c.rpps for c in await directory.candidates(derm, "69123", NOW, language="en")] == ["10000000008"]
    assert [c.rpps for c in await directory.candidates(derm, "69123", NOW, limit=2)] == ["10000000004", "10000000005"]
    excluded = await directory.candidates(derm, "69123", NOW, exclude={"10000000004", "10000000006"})
    assert [c.rpps for c in excluded][:2] == ["10000000005", "10000000007"]
    # Without a commune everybody is "national", ordered by RPPS.
    assert [c.proximity for c in await directory.candidates(derm, None, NOW)] == [4] * 6
    assert await directory.candidates("SM99", "69123", NOW) == []


async def test_absent_professionals_are_skipped_only_during_the_absence(db: Any, pool_ttl: float) -> None:
    _, sessions = db
    await seed(sessions, "10000000001", "Absente", [("SM16", "69123", "69")], accepts=["SM16"])
    await seed(sessions, "10000000002", "Presente", [("SM16", "75056", "75")], accepts=["SM16"])
    async with sessions.begin() as session:
        session.add(Absence(rpps="10000000001", starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(hours=2)))
    directory = Directory(sessions, pool_ttl=pool_ttl)
    assert [c.rpps for c in await directory.candidates("SM16", "69123", NOW)] == ["10000000002"]
    later = [c.rpps for c in await directory.candidates("SM16", "69123", NOW + timedelta(hours=2))]
    assert later == ["10000000001", "10000000002"]
    earlier = [c.rpps for c in await directory.candidates("SM16", "69123", NOW - timedelta(days=2))]
    assert earlier == ["10000000001", "10000000002"]


async def test_the_pool_is_reloaded_after_its_ttl_or_an_invalidation(db: Any) -> None:
    _, sessions = db
    clock = [100.0]
    directory = Directory(sessions, pool_ttl=5.0, monotonic=lambda: clock[0])
    await seed(sessions, "10000000001", "Un", [("SM16", "69123", "69")], accepts=["SM16"])
    assert [c.rpps for c in await directory.candidates("SM16", "69123", NOW)] == ["10000000001"]
    await seed(sessions, "10000000002", "Deux", [("SM16", "69123", "69")], accepts=["SM16"])
    clock[0] += 4
    assert [c.rpps for c in await directory.candidates("SM16", "69123", NOW)] == ["10000000001"]
    clock[0] += 2
    # Expired: served once more while the fresh pool loads in the background, then the fresh one.
    assert [c.rpps for c in await directory.candidates("SM16", "69123", NOW)] == ["10000000001"]
    for _ in range(50):
        if not directory._reloads:
            break
        await asyncio.sleep(0.02)
    assert [c.rpps for c in await directory.candidates("SM16", "69123", NOW)] == ["10000000001", "10000000002"]
    await seed(sessions, "10000000003", "Trois", [("SM16", "69123", "69")], accepts=["SM16"])
    directory.invalidate()
    assert len(await directory.candidates("SM16", "69123", NOW)) == 3
    # A question about a time well before the pool was loaded is answered from the database.
    assert len(await directory.candidates("SM16", "69123", NOW - timedelta(days=3))) == 3
    await directory.close()


async def test_the_pool_ranks_exactly_as_the_sql_path(db: Any) -> None:
    """The in-memory pool walks rings around the commune and stops early: on a random directory it returns the
    same candidates, sites and order as the single SQL statement, for many origins, filters and limits."""
    import random

    _, sessions = db
    rng = random.Random(7)
    # Lyon's département, its neighbours (01, 38, 42, 71), the rest of its region (03, 63, 73), elsewhere.
    places = [("69123", "69"), ("69266", "69"), ("01053", "01"), ("38185", "38"), ("42218", "42"),
              ("71270", "71"), ("63113", "63"), ("73065", "73"), ("75056", "75"), ("13055", "13"), (None, None)]
    async with sessions.begin() as session:
        for n in range(60):
            rpps = f"2{n:010d}"
            session.add(Professional(rpps=rpps, national_id="8" + rpps, civility_code="DR", civility="Docteur",
                                     family_name=f"Nom{n}", given_name="Ana", source="rpps", row_hash="x",
                                     updated_at=NOW))
        await session.flush()
        for n in range(60):
            rpps = f"2{n:010d}"
            for position in range(rng.randint(1, 3)):
                commune, dep = rng.choice(places)
                session.add(Activity(rpps=rpps, position=position, profession_code="10", specialty_code="SM16",
                                     commune=commune, departement=dep, postal_code=None))
            if rng.random() < 0.9:
                session.add(Profile(rpps=rpps, capacity=rng.randint(1, 5), updated_at=NOW))
        await session.flush()
        for n in range(60):
            rpps = f"2{n:010d}"
            if await session.get(Profile, rpps) is None:
                continue
            session.add(ProfileSpecialty(rpps=rpps, specialty="SM16"))
            session.add_all([ProfileLanguage(rpps=rpps, language=lang)
                             for lang in ["fr"] + (["en"] if rng.random() < 0.3 else [])])
            if rng.random() < 0.15:
                session.add(Absence(rpps=rpps, starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=1)))
    sql, pooled = Directory(sessions), Directory(sessions, pool_ttl=60.0)
    origins = ["69123", "69266", "01053", "63113", "75056", "2A004", "97105", "99999", None]
    for origin in origins:
        for language in (None, "en"):
            for limit in (1, 5, 12, 50):
                exclude = {f"2{n:010d}" for n in rng.sample(range(60), 5)}
                expected = await sql.candidates("SM16", origin, NOW, language=language, exclude=exclude,
                                                limit=limit)
                found = await pooled.candidates("SM16", origin, NOW, language=language, exclude=exclude,
                                                limit=limit)
                assert found == expected, (origin, language, limit)
    await pooled.close()
