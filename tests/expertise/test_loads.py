"""Cached open-request counts (expertise/loads.py): routing never offers beyond capacity, whatever the cache says."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from expertise import Directory, NewRequest, Profiles
from expertise.loads import LoadBook
from tests.expertise.requests_support import GP, Harness, build, expert, http_body, request_body, seed_professional

NEAR, FAR = "20000000001", "20000000002"


@pytest.fixture(params=[0.0, 3600.0], ids=["sql", "cached"])
def load_ttl(request: pytest.FixtureRequest) -> float:
    """The same routing outcomes with counts read in SQL per decision and with the cached counts."""
    return float(request.param)


async def submit(h: Harness, **overrides: Any) -> str:
    new = NewRequest.parse(request_body(**overrides), h.service.policy.urgencies)
    return (await h.service.submit(GP, new)).summary.id


async def holder(h: Harness, rid: str) -> str | None:
    return (await h.service.get(GP, rid)).summary.assigned_rpps


async def test_a_specialist_at_capacity_is_not_offered_the_next_request(db: Any, tmp_path: Path,
                                                                        load_ttl: float) -> None:
    h = build(db[1], tmp_path, load_ttl=load_ttl)
    h.directory.add(NEAR, 0, capacity=1)
    h.directory.add(FAR, 1, capacity=5)
    first = await submit(h)
    assert await holder(h, first) == NEAR
    second = await submit(h)
    assert await holder(h, second) == FAR  # the nearest one is full
    await h.service.decline(expert(NEAR), first)  # frees NEAR's place once committed; first moves on to FAR
    assert await holder(h, first) == FAR
    third = await submit(h)
    assert await holder(h, third) == NEAR
    await h.service.stop()


async def test_an_offer_made_by_another_process_is_respected_before_the_cache_sees_it(db: Any,
                                                                                      tmp_path: Path) -> None:
    here = build(db[1], tmp_path / "a", load_ttl=3600.0)
    other = build(db[1], tmp_path / "b", load_ttl=3600.0, node="other")
    for h in (here, other):
        h.directory.add(NEAR, 0, capacity=2)
        h.directory.add(FAR, 1, capacity=5)
    assert await holder(here, await submit(here)) == NEAR  # this process now counts 1 of 2 for NEAR
    assert await holder(other, await submit(other)) == NEAR  # another process fills NEAR: 2 of 2
    assert here.service.dispatcher.loads.count(NEAR) == 1  # stale: the next refresh is an hour away
    # The chosen specialist's count is confirmed in the routing transaction: NEAR is full, FAR gets it.
    assert await holder(here, await submit(here)) == FAR
    assert here.service.dispatcher.loads.count(NEAR) == 2  # and the cache was corrected on the way
    for h in (here, other):
        await h.service.stop()


async def test_an_offer_rolled_back_frees_its_place_and_a_release_counts_only_once_committed(db: Any) -> None:
    _, sessions = db
    book = LoadBook(sessions, ttl=3600.0)
    async with sessions() as session:
        await book.loads(session, [NEAR])  # first snapshot: nobody holds anything
    async with sessions() as session:
        async with session.begin():
            await session.execute(text("SELECT 1"))
            book.track(session, NEAR, +1)
            assert book.count(NEAR) == 1  # reserved at once: a concurrent decision of this process sees it
            await session.rollback()
    assert book.count(NEAR) == 0
    async with sessions.begin() as session:
        await session.execute(text("SELECT 1"))
        book.track(session, NEAR, +1)
    assert book.count(NEAR) == 1
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await session.execute(text("SELECT 1"))
            book.track(session, NEAR, -1)
            assert book.count(NEAR) == 1  # not freed before the commit
            raise RuntimeError("the transaction fails")
    assert book.count(NEAR) == 1
    async with sessions.begin() as session:
        await session.execute(text("SELECT 1"))
        book.track(session, NEAR, -1)
    assert book.count(NEAR) == 0
    await book.close()


async def test_counts_are_refreshed_ahead_and_see_other_processes(db: Any, tmp_path: Path) -> None:
    clock = [100.0]
    book = LoadBook(db[1], ttl=5.0, monotonic=lambda: clock[0])
    other = build(db[1], tmp_path)
    other.directory.add(NEAR, 0)
    async with db[1]() as session:
        assert await book.loads(session, [NEAR]) == {}
        await submit(other)
        assert await book.loads(session, [NEAR]) == {}  # fresh for 5 s
        clock[0] += 6
        assert await book.loads(session, [NEAR]) == {}  # expired: served once more while it refreshes
        for _ in range(100):
            await asyncio.sleep(0.01)
            if book.count(NEAR):
                break
        assert await book.loads(session, [NEAR]) == {NEAR: 1}
    await book.close()


async def test_an_absent_or_full_specialist_is_not_offered_with_every_cache_on(db: Any, tmp_path: Path) -> None:
    """The server's setting: directory pools and loads both cached; a profile change invalidates the pools."""
    _, sessions = db
    await seed_professional(sessions, NEAR, commune="69123", departement="69", capacity=3)
    await seed_professional(sessions, FAR, commune="75056", departement="75", capacity=1)
    directory = Directory(sessions, pool_ttl=3600.0)
    profiles = Profiles(sessions, on_change=directory.invalidate)
    h = build(sessions, tmp_path, directory=directory, load_ttl=3600.0)

    async def send() -> str:
        new = NewRequest.parse(http_body(), h.service.policy.urgencies)
        return (await h.service.submit(GP, new)).summary.id

    assert await holder(h, await send()) == NEAR
    now = h.clock.now()
    await profiles.add_absence(NEAR, now - timedelta(minutes=1), now + timedelta(days=1), "congé", now)
    assert await holder(h, await send()) == FAR
    assert await holder(h, await send()) is None  # NEAR away, FAR full: escalated, nobody over capacity
    await h.service.stop()
    await directory.close()


async def test_an_uncommitted_offer_of_this_process_counts_in_another_transactions_confirmation(db: Any) -> None:
    _, sessions = db
    book = LoadBook(sessions, ttl=3600.0)
    async with sessions() as first, sessions() as second:
        await book.loads(first, [NEAR])
        book.track(first, NEAR, +1)  # an offer written in ``first``, not committed yet
        assert await book.confirm(second, NEAR) == 1  # ``second`` does not see the row, but the place is taken
        assert await book.confirm(first, NEAR) == 0  # its own offer is not flushed here: nothing to count twice
        await first.rollback()
        assert await book.confirm(second, NEAR) == 0
    await book.close()


async def test_two_processes_routing_at_once_never_share_a_last_place(db: Any, tmp_path: Path,
                                                                     load_ttl: float) -> None:
    """Concurrent decisions in two processes (their own transactions, at the same instant): on PostgreSQL the
    second count waits for the first offer's commit; on SQLite the writers are serialised."""
    here = build(db[1], tmp_path / "a", load_ttl=load_ttl)
    other = build(db[1], tmp_path / "b", load_ttl=load_ttl, node="other")
    for h in (here, other):
        h.directory.add(NEAR, 0, capacity=3)
        h.directory.add(FAR, 1, capacity=50)
    for _ in range(4):  # rounds of simultaneous pairs: NEAR's three places go to three requests, never four
        await asyncio.gather(submit(here), submit(other))
    near = await db[0].connect()
    try:
        held = (await near.execute(text(
            "SELECT count(*) FROM expertise_requests WHERE assigned_rpps = :rpps"), {"rpps": NEAR})).scalar_one()
    finally:
        await near.close()
    assert held == 3
    for h in (here, other):
        await h.service.stop()
