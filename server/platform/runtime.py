"""How a serving process runs: its event loop and its garbage collector.

uvloop (libuv) runs the same asyncio programs with a cheaper loop and cheaper sockets; the signaling relay spends
most of its time in loop and socket code (docs/benchmarks.md), so the server uses it wherever it is installed
(``LUCARNE_EVENT_LOOP=asyncio`` keeps the standard loop). The start-up heap (imported modules, SQLAlchemy's
compiled metadata, templates) never dies; freezing it keeps the collector's full passes from walking it again,
which showed as 100-200 ms loop stalls in the signaling tail.

glibc gives each new thread its own malloc arena (up to 8 per core), and ``malloc_trim`` only returns the main
arena's free top to the system: after a burst of calls, the arenas of the worker threads (SQLite connections,
JPEG encoding, VP8 decoding for captures) keep their peak. Over 500 calls the soak benchmark measured trimmed RSS
at 1.27x its one-call baseline with glibc's default and 1.05x with two arenas (docs/benchmarks.md), with no
per-call growth either way; the server therefore caps arenas at two (``LUCARNE_MALLOC_ARENAS``, 0 keeps glibc's
default). The cap must be set before the threads exist, so it is the first thing a serving process does.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypedDict

__all__ = ["new_event_loop", "freeze_startup_heap", "limit_malloc_arenas", "batch_job_gc", "http_server_options",
           "HttpServerOptions", "EVENT_LOOPS"]

logger = logging.getLogger(__name__)

EVENT_LOOPS = ("uvloop", "asyncio")
_M_ARENA_MAX = -8  # glibc's malloc.h


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


class HttpServerOptions(TypedDict):
    """Keyword arguments of ``web.run_app`` / ``web.AppRunner`` (typed, so unpacking them is checked)."""

    keepalive_timeout: float


def http_server_options(header_timeout_s: float) -> HttpServerOptions:
    """Options of aiohttp's HTTP server (``web.run_app`` / ``web.AppRunner``) for a serving process.

    aiohttp 3.14 has no separate header-read timeout. Its ``keepalive_timeout`` is armed when a connection opens
    and again when each response ends, is not pushed back by incoming bytes, and closes the connection if the next
    request's head is still incomplete when it fires; while a handler runs (a WebSocket, a long response) it does
    nothing. So it bounds the time to send a whole request head, which is what stops a client trickling one
    header line every few seconds. It also closes idle keep-alive connections after the same time, which browsers
    reopen at no visible cost. ``run_app``'s default is 75 s and ``AppRunner``'s 3630 s.
    """
    return {"keepalive_timeout": header_timeout_s}


def freeze_startup_heap() -> None:
    """Collect once, then move every surviving object out of the collector's generations."""
    gc.collect()
    gc.freeze()


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at ``count`` for threads created from now on; False when not possible here
    (``count`` 0, or not glibc)."""
    if count <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        logger.info("not glibc: malloc arenas left as they are")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, count))


@contextmanager
def batch_job_gc(every: int = 8) -> Iterator[Callable[[], None]]:
    """For a batch job that allocates millions of short-lived containers (the directory import: a tuple per line and
    per activity, a group per professional): freeze the start-up heap and pause the automatic cyclic collector;
    the job calls the function this yields once per batch, which collects the youngest generation every ``every``
    calls (a pass costs about as much as walking one batch's live objects). Reference
    counting frees the job's own objects; the automatic passes re-walked each batch's live tuples (a 400,000-line
    first import: 19.1 s by default, 15.4 s this way). The per-batch pass still frees the reference cycles the
    database layer leaves behind (a re-import runs thousands of lookups: with no collection at all its peak memory
    went from 218 to 306 MB). The previous settings come back afterwards."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    calls = 0

    def collect_young() -> None:
        nonlocal calls
        calls += 1
        if calls % every == 0:
            gc.collect(0)

    try:
        yield collect_young
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()
        gc.collect()
