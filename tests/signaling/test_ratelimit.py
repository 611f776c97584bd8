"""Keyed token buckets (signaling/ratelimit.py) on a clock the test moves."""

from __future__ import annotations

from signaling.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_key_has_its_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [True, True, True, False]
    assert buckets.take("b")  # another key is not affected
    assert buckets.retry_after("a") == 0.5
    clock.now += 0.5
    assert buckets.take("a") and not buckets.take("a")
    clock.now -= 100  # a clock stepping back refills nothing and drains nothing
    assert not buckets.take("a")
    clock.now += 200
    assert [buckets.take("a") for _ in range(4)] == [True, True, True, False]  # never above the burst


def test_full_buckets_are_forgotten_so_memory_stays_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=2, clock=clock)
    for index in range(5000):
        buckets.take(f"address-{index}")
        clock.now += 0.01  # each bucket is full again 0.1 s after its last use
    assert len(buckets) < 2100
    assert buckets.take("spent") and buckets.take("spent") and not buckets.take("spent")
    for index in range(3000):  # sweeps happen meanwhile, the clock does not move
        buckets.take(f"later-{index}")
    assert not buckets.take("spent")  # a drained bucket is never forgotten early


def test_the_connect_limit_keys_an_ipv6_client_by_its_64_and_reads_the_tcp_peer() -> None:
    from types import SimpleNamespace

    from signaling.fastpath import peer_address

    def environ(remote: str) -> dict[str, object]:
        return {"REMOTE_ADDR": "127.0.0.1", "aiohttp.request": SimpleNamespace(remote=remote)}

    assert peer_address(environ("203.0.113.7")) == "203.0.113.7"
    assert peer_address(environ("2001:db8:1:2:aaaa::1")) == peer_address(environ("2001:db8:1:2:ffff::9"))
    assert peer_address(environ("2001:db8:1:2::1")) != peer_address(environ("2001:db8:1:3::1"))
    assert peer_address(environ("::ffff:198.51.100.4")) == "198.51.100.4"
