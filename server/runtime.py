"""How a serving process runs: its event loop and its garbage collector.

uvloop (libuv) runs the same asyncio programs with a cheaper loop and cheaper sockets; the signaling relay spends
most of its time in loop and socket code (docs/benchmarks.md), so the server uses it wherever it is installed
(``LUCARNE_EVENT_LOOP=asyncio`` keeps the standard loop). The start-up heap (imported modules, SQLAlchemy's
compiled metadata, templates) never dies; freezing it keeps the collector's full passes from walking it again,
which showed as 100-200 ms loop stalls in the signaling tail.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["new_event_loop", "freeze_startup_heap", "batch_job_gc", "EVENT_LOOPS"]

logger = logging.getLogger(__name__)

EVENT_LOOPS = ("uvloop", "asyncio")


def new_event_loop(kind: str = "uvloop") -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``; falls back to asyncio's own when uvloop is not installed."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            logger.warning("uvloop is not installed; serving on the standard asyncio loop")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def freeze_startup_heap() -> None:
    """Collect once, then move every surviving object out of the collector's generations."""
    gc.collect()
    gc.freeze()


@contextmanager
def batch_job_gc() -> Iterator[None]:
    """For a batch job that allocates millions of short-lived containers and builds no reference cycles (the
    directory import: a tuple per line and per activity, a group per professional): freeze the start-up heap and
    pause the cyclic collector, then collect once and restore it. Reference counting frees the job's objects; the
    collector's passes only re-walked each batch's live tuples (with the default thresholds a 400,000-line import
    took 19.1 s, 16.7 s with young collections every 50,000 allocations, 14.7 s paused). A full collection after
    such an import finds about 350 unreachable objects (the driver's and asyncio's), so nothing piles up."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()
        gc.collect()
