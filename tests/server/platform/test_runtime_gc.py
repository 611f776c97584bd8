"""The import's collector settings: paused automatic collection, periodic young passes, everything restored."""

from __future__ import annotations

import gc
import weakref

from server.platform.runtime import batch_job_gc


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_batch_job_gc_pauses_the_collector_frees_young_cycles_and_restores_it() -> None:
    assert gc.isenabled()
    with batch_job_gc(every=2) as collect_young:
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # the start-up heap is out of the collector's way
        first, second = _Node(), _Node()
        first.other, second.other = second, first  # a reference cycle: only the collector frees it
        probe = weakref.ref(first)
        del first, second
        collect_young()
        assert probe() is not None  # every second call only
        collect_young()
        assert probe() is None
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
