"""Shared plumbing for the browser-lab benchmarks: machine description, percentiles, the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.lab import lab_available

__all__ = ["machine", "now_iso", "percentile", "run_lab_benchmark"]


def machine() -> str:
    return f"{platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} cores"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def run_lab_benchmark(doc: str | None, default_runs: int, results: Path,
                      run: Callable[[int], Awaitable[dict[str, Any]]]) -> None:
    """Parse ``--runs``, check the lab can run, run it, write flat JSON to ``results`` and print it."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=default_runs)
    args = parser.parse_args()
    reason = lab_available()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    figures = {**asyncio.run(run(args.runs)), "machine": machine(), "date": now_iso()}
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
