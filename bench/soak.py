"""Soak: repeated caller sessions through the server's media path must give memory, tasks and file
descriptors back.

Each cycle runs the shipped live-view path in one process: an aiortc "phone" publishes a 640x480 test pattern to
a ``media.PeerRegistry`` peer whose VP8 feeds a ``ForwardingSource`` keeping the frames since the last keyframe
(``HistoryLimits()``, as ``server/regulation/live.py``), a viewer subscribes through the server, a still is decoded from
that history and JPEG-encoded, then everything is closed.

Baseline: the process after ``--warmup`` cycles (default 1: the first call loads the codecs, aiortc's and PyAV's
lazy imports, the JPEG plugins and the worker threads, once per process); the state before any call is recorded
too. Checkpoints every ``--every`` cycles; the per-cycle slope of each memory figure is a least-squares fit over
the checkpoints, given with its 95 % bound (±2 standard errors), over all of them and over the second half.

Memory figures, from the most to the least direct measure of "still referenced":
* ``malloc_in_use``: bytes glibc's malloc has handed out and not got back (``mallinfo2``: uordblks + hblkhd, all
  arenas) — the native heap of libvpx, FFmpeg, OpenSSL, libsrtp and CPython's large objects;
* ``py_blocks``: CPython's allocated blocks (``sys.getallocatedblocks``) and ``gc_objects``;
* ``trimmed_rss``: RSS after ``malloc_trim(0)``; still counts free memory glibc keeps at the top of its per-thread
  arenas (trimming only releases the main arena's top), so it depends on ``MALLOC_ARENA_MAX``;
* ``rss``: plain RSS (also counts freed pages the allocator keeps).
``--trace`` adds tracemalloc (slower): the Python-level growth from baseline (or from cycle ``--trace-from``, to
look at the steady state only) to the end, by traceback.

    .venv/bin/python -m bench.soak --cycles 500          # arenas capped as the server caps them (2)
    .venv/bin/python -m bench.soak --cycles 500 --malloc-arenas 0 --out soak_default_arenas
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import math
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from bench.lab_runner import machine, now_iso
from media import ForwardingSource, HistoryLimits, MediaSettings, PeerRegistry, encode_jpeg
from server.config import Settings
from server.platform.runtime import limit_malloc_arenas
from tests.media.test_peers import QuadrantTrack

VP8 = {"video": "video/VP8"}
RESULTS_DIR = Path(__file__).resolve().parent / "results"
FIGURES = ("rss_kb", "trimmed_rss_kb", "malloc_in_use_kb", "py_blocks", "gc_objects")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        return libc
    except (OSError, AttributeError):
        return None  # not glibc ≥ 2.33: the malloc figures are left out


LIBC = _libc()


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def snapshot() -> dict[str, int]:
    gc.collect()
    point = {"rss_kb": _status("VmRSS")}
    if LIBC is not None:
        LIBC.malloc_trim(0)
        info = LIBC.mallinfo2()
        point["malloc_in_use_kb"] = (info.uordblks + info.hblkhd) // 1024
    point["trimmed_rss_kb"] = _status("VmRSS")
    point.update(py_blocks=sys.getallocatedblocks(), gc_objects=len(gc.get_objects()),
                 threads=_status("Threads"), tasks=len(asyncio.all_tasks()), fds=len(os.listdir("/proc/self/fd")))
    return point


async def one_cycle(registry: PeerRegistry, index: int) -> None:
    sources: list[ForwardingSource] = []

    async def publish(peer_id: str, track: MediaStreamTrack) -> None:
        # As the live view does (server/regulation/live.py): forward the caller's VP8, keep the frames since the last
        # keyframe, decode only for a capture.
        source = ForwardingSource(registry.receiver(peer_id, track), history=HistoryLimits())
        sources.append(source)
        await source.ended.wait()

    phone = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        phone.addTrack(QuadrantTrack())
        await phone.setLocalDescription(await phone.createOffer())
        answer = await registry.answer(f"caller-{index}", phone.localDescription.sdp, publish, codecs=VP8)
        await phone.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        while not sources:
            await asyncio.sleep(0.02)
        viewer.addTransceiver("video", direction="recvonly")
        await viewer.setLocalDescription(await viewer.createOffer())

        async def ignore(peer_id: str, track: MediaStreamTrack) -> None:
            return None

        answer = await registry.answer(f"viewer-{index}", viewer.localDescription.sdp, ignore,
                                       send=(sources[0].subscribe(),), codecs=VP8)
        await viewer.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.sleep(0.5)
        await encode_jpeg(await sources[0].newest_frame(10))
    finally:
        for source in sources:
            await source.stop()
        await registry.close_all()
        await phone.close()
        await viewer.close()


def slope(cycles: list[int], values: list[int]) -> tuple[float, float]:
    """Least-squares slope of ``values`` over ``cycles`` and its 95 % bound (2 standard errors)."""
    if len(cycles) < 3:
        return math.nan, math.nan
    fit = statistics.linear_regression(cycles, values)
    residuals = [v - (fit.slope * c + fit.intercept) for c, v in zip(cycles, values, strict=True)]
    mean = statistics.fmean(cycles)
    sxx = sum((c - mean) ** 2 for c in cycles)
    error = math.sqrt(sum(r * r for r in residuals) / (len(cycles) - 2) / sxx)
    return fit.slope, 2 * error


def _figures(before: dict[str, int], baseline: dict[str, int], end: dict[str, int],
             points: list[tuple[int, dict[str, int]]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in FIGURES:
        if name not in baseline:
            continue
        key = name.removesuffix("_kb")
        unit = "_kb" if name.endswith("_kb") else ""
        cycles = [cycle for cycle, _ in points]
        values = [point[name] for _, point in points]
        half = len(points) // 2
        result[f"{key}_before_calls{unit}"] = before[name]
        result[f"{key}_baseline{unit}"] = baseline[name]
        result[f"{key}_end{unit}"] = end[name]
        result[f"{key}_end_vs_baseline_ratio"] = round(end[name] / baseline[name], 3)
        for label, span in (("", slice(None)), ("_second_half", slice(half, None))):
            value, bound = slope(cycles[span], values[span])
            fitted = not math.isnan(value)  # JSON has no NaN: too few checkpoints give null
            result[f"{key}_slope{unit}_per_cycle{label}"] = round(value, 2) if fitted else None
            result[f"{key}_slope{unit}_per_cycle{label}_bound"] = round(bound, 2) if fitted else None
        result[f"{key}_checkpoints{unit}"] = " ".join(str(value) for value in values)
    return result


async def run(cycles: int, warmup: int, every: int, trace: bool, trace_from: int) -> dict[str, Any]:
    registry = PeerRegistry(MediaSettings(host_addresses=("127.0.0.1",)))
    before = snapshot()
    for index in range(warmup):
        await one_cycle(registry, index)
    await asyncio.sleep(1)
    baseline = snapshot()
    traced_baseline = None
    points: list[tuple[int, dict[str, int]]] = [(0, baseline)]
    started = time.monotonic()
    for index in range(cycles):
        if trace and index == trace_from:
            # Only what is allocated from here on and still held at the end is traced.
            tracemalloc.start(12)
            traced_baseline = tracemalloc.take_snapshot()
        await one_cycle(registry, warmup + index)
        if (index + 1) % every == 0:
            await asyncio.sleep(0.5)
            points.append((index + 1, snapshot()))
            print(f"cycle {index + 1}: {points[-1]}", flush=True)
    elapsed = time.monotonic() - started
    await asyncio.sleep(1)
    end = snapshot()
    figures: dict[str, Any] = {"cycles": cycles, "warmup_cycles": warmup, "checkpoint_every": every,
                               "seconds_per_cycle": round(elapsed / cycles, 2),
                               "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX", "default"),
                               "tracemalloc": trace, "traced_from_cycle": trace_from if trace else None}
    figures.update(_figures(before, baseline, end, points))
    figures.update({f"{name}_{moment}": point[name] for name in ("threads", "tasks", "fds")
                    for moment, point in (("baseline", baseline), ("end", end))})
    figures["peers_left"] = len(registry)
    if traced_baseline is not None:
        traced_end = tracemalloc.take_snapshot()
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        growth = traced_end.filter_traces(ignore).compare_to(traced_baseline.filter_traces(ignore), "traceback")
        figures["py_traced_growth_kb"] = round(sum(stat.size_diff for stat in growth) / 1024, 1)
        figures["py_traced_growth_blocks"] = sum(stat.count_diff for stat in growth)
        print("Python allocations grown from baseline to end, by traceback (top 10):")
        for stat in growth[:10]:
            print(f"  {stat.size_diff / 1024:+.1f} KiB in {stat.count_diff:+d} blocks at")
            print("    " + "\n    ".join(stat.traceback.format(most_recent_first=True)[:16]))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--every", type=int, default=10, help="cycles between checkpoints")
    parser.add_argument("--trace", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--trace-from", type=int, default=0, help="cycle after the baseline where tracing starts")
    parser.add_argument("--out", default="soak", help="results file name in bench/results (without .json)")
    parser.add_argument("--malloc-arenas", type=int, default=Settings.malloc_arenas,
                        help="cap glibc's arenas as the server does (default: the server's; 0: glibc's default)")
    args = parser.parse_args()
    capped = limit_malloc_arenas(args.malloc_arenas)  # first, as `lucarne run` does: before any thread
    load = os.getloadavg()
    figures = {**asyncio.run(run(args.cycles, args.warmup, args.every, args.trace, args.trace_from)),
               "malloc_arenas": args.malloc_arenas if capped else "default",
               "load_avg_1m_start": round(load[0], 2), "machine": machine(), "date": now_iso()}
    figures["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    path = RESULTS_DIR / f"{args.out}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
