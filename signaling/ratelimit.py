"""Keyed token buckets: one bucket per durable key (a participant, a session, a client address).

A bucket is keyed by what the limit protects, never by a socket id, so a second socket or a reconnect finds the
same bucket. Buckets that have refilled to the brim are dropped now and then: a full bucket and a missing one
behave the same, so memory stays bounded by the keys active within one refill period.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TokenBuckets"]

# Forgetting full buckets is amortised: a sweep happens when the table has doubled since the last one.
_FIRST_SWEEP_AT = 1024


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """``rate`` tokens per second up to ``burst``, per key; ``clock`` returns seconds (monotonic or the app's)."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least one")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._sweep_at = _FIRST_SWEEP_AT

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> bool:
        """Spend one token of ``key``'s bucket; ``False`` (nothing spent) when it is empty."""
        now = self._clock()
        bucket = self._refilled(key, now)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again (0 when it has one now)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        missing = 1 - self._refilled(key, self._clock()).tokens
        return max(0.0, math.ceil(missing / self.rate * 10) / 10)

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            return bucket
        # A clock that steps back (the wall clock) refills nothing rather than draining the bucket.
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
        bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items()
            if bucket.tokens + max(0.0, now - bucket.updated) * self.rate < self.burst
        }
        self._sweep_at = max(_FIRST_SWEEP_AT, 2 * len(self._buckets))
