"""The signaling route cache: served without the database after the first lookup, refreshed off the hot path."""

from __future__ import annotations

import asyncio

from server.teleconsultation.route_cache import Route, RouteCache


class Lookups:
    """A database stand-in at the boundary: answers what ``answers`` says, counts calls, can be held."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Route] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, consultation: str, sender: str, target: str) -> Route:
        self.calls.append((consultation, sender, target))
        await self.gate.wait()
        return self.answers.get((sender, target))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cache(lookups: Lookups, clock: Clock) -> RouteCache:
    return RouteCache(lookups, allowed_s=10.0, denied_s=1.0, monotonic=clock)


async def test_first_lookup_is_cached_until_due() -> None:
    lookups, clock = Lookups(), Clock()
    lookups.answers[("a", "b")] = True
    routes = cache(lookups, clock)
    assert await routes.get("c", "a", "b") is True
    clock.now += 4.9  # due after 5-10 s
    assert await routes.get("c", "a", "b") is True
    assert len(lookups.calls) == 1


async def test_due_allowed_route_is_served_while_one_refresh_runs() -> None:
    lookups, clock = Lookups(), Clock()
    lookups.answers[("a", "b")] = True
    routes = cache(lookups, clock)
    await routes.get("c", "a", "b")
    clock.now += 10.5
    lookups.gate.clear()  # the refresh is slow
    lookups.answers[("a", "b")] = None  # ... and will find the route gone
    assert [await routes.get("c", "a", "b") for _ in range(3)] == [True, True, True]
    await asyncio.sleep(0)
    assert len(lookups.calls) == 2  # one refresh, not three
    lookups.gate.set()
    await asyncio.sleep(0.01)
    assert await routes.get("c", "a", "b") is None
    await routes.close()


async def test_route_long_overdue_is_looked_up_in_line() -> None:
    lookups, clock = Lookups(), Clock()
    lookups.answers[("a", "b")] = True
    routes = cache(lookups, clock)
    await routes.get("c", "a", "b")
    clock.now += 25  # past due + allowed_s: too old to serve
    lookups.answers[("a", "b")] = None
    assert await routes.get("c", "a", "b") is None


async def test_refusal_is_never_served_stale() -> None:
    lookups, clock = Lookups(), Clock()
    routes = cache(lookups, clock)
    assert await routes.get("c", "a", "b") is None
    clock.now += 1.01
    lookups.answers[("a", "b")] = False
    assert await routes.get("c", "a", "b") is False


async def test_forget_drops_routes_and_a_refresh_started_before_cannot_write_back() -> None:
    lookups, clock = Lookups(), Clock()
    lookups.answers[("a", "b")] = True
    lookups.answers[("x", "y")] = True
    routes = cache(lookups, clock)
    await routes.get("c", "a", "b")
    await routes.get("c2", "x", "y")
    clock.now += 10.5
    lookups.gate.clear()
    assert await routes.get("c", "a", "b") is True  # starts a refresh that will read the old state
    await asyncio.sleep(0)
    routes.forget("b")  # the target left: its routes go at once
    lookups.answers[("a", "b")] = None
    lookups.gate.set()
    await asyncio.sleep(0.01)
    assert await routes.get("c", "a", "b") is None  # looked up again, not the refresh's stale True
    assert lookups.calls[-1] == ("c", "a", "b")
    calls = len(lookups.calls)
    clock.now -= 10.5
    assert await routes.get("c2", "x", "y") is True  # another pair's route stayed cached
    assert len(lookups.calls) == calls


async def test_close_cancels_pending_refreshes() -> None:
    lookups, clock = Lookups(), Clock()
    lookups.answers[("a", "b")] = True
    routes = cache(lookups, clock)
    await routes.get("c", "a", "b")
    clock.now += 10.5
    lookups.gate.clear()
    await routes.get("c", "a", "b")
    await asyncio.sleep(0)
    await routes.close()
    assert all(task.done() for task in asyncio.all_tasks() if task is not asyncio.current_task())
