"""The serving process's runtime: the malloc arena cap really limits the arenas threads get."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import pytest

from server.config import ConfigError, Settings
from server.platform.runtime import limit_malloc_arenas

# Eight threads that each hold native allocations at the same time, then glibc's own statistics (stderr).
_THREADS_THEN_STATS = textwrap.dedent("""
    import ctypes, sys, threading
    from server.platform.runtime import limit_malloc_arenas
    limit_malloc_arenas(int(sys.argv[1]))
    barrier = threading.Barrier(8)
    def hold():
        blocks = [bytearray(4096) for _ in range(64)]  # over pymalloc's 512 bytes: from malloc
        barrier.wait()
        barrier.wait()
    threads = [threading.Thread(target=hold) for _ in range(7)]
    for thread in threads:
        thread.start()
    main_blocks = [bytearray(4096) for _ in range(64)]
    barrier.wait()
    ctypes.CDLL(None).malloc_stats()
    barrier.wait()
    for thread in threads:
        thread.join()
""")


def _arenas(cap: int) -> int:
    done = subprocess.run([sys.executable, "-c", _THREADS_THEN_STATS, str(cap)], capture_output=True, text=True,
                          timeout=60, check=True)
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


def test_capped_process_uses_at_most_the_cap() -> None:
    if not hasattr(ctypes.CDLL(None), "gnu_get_libc_version"):
        pytest.skip("not glibc")
    capped, default = _arenas(2), _arenas(0)
    assert 1 <= capped <= 2
    assert default > capped  # without the cap the same threads spread over more arenas


def test_no_cap_asked_changes_nothing() -> None:
    assert limit_malloc_arenas(0) is False


def test_arena_setting_is_validated() -> None:
    base = {"LUCARNE_SECRET_KEY": "a" * 64, "LUCARNE_MASTER_KEY": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="}
    assert Settings.from_env(base).malloc_arenas == 2
    assert Settings.from_env({**base, "LUCARNE_MALLOC_ARENAS": "0"}).malloc_arenas == 0
    with pytest.raises(ConfigError, match="LUCARNE_MALLOC_ARENAS"):
        Settings.from_env({**base, "LUCARNE_MALLOC_ARENAS": "500"})
