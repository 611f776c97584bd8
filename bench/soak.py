"""Soak: repeated caller sessions through the server's media path must give memory, tasks and file
descriptors back.

Each cycle runs the real path in one process: an aiortc "phone" publishes a 640x480 test pattern to a
``media.PeerRegistry`` peer whose VP8 feeds a ``ForwardingSource`` (encoded fan-out, as the live view), a viewer
subscribes through the server, a still is decoded from the next keyframe and encoded, then everything is closed.
Baseline in the same run: the process's RSS, task count and open descriptors after the warm-up cycles. The ratio compares the end state with it.

    .venv/bin/python -m bench.soak --cycles 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from bench.lab_runner import machine, now_iso
from media import ForwardingSource, LatestFrame, MediaSettings, PeerRegistry, encode_jpeg
from tests.media.test_peers import QuadrantTrack

VP8 = {"video": "video/VP8"}
RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def one_cycle(registry: PeerRegistry, index: int) -> None:
    sources: list[ForwardingSource] = []

    async def publish(peer_id: str, track: MediaStreamTrack) -> None:
        # As the live view does (server/live.py): forward the caller's VP8, decode only for a capture.
        source = ForwardingSource(registry.receiver(peer_id, track))
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
        latest = LatestFrame()
        decoded = sources[0].decoded()
        consumer = asyncio.create_task(latest.consume(decoded))
        try:
            await encode_jpeg(await latest.wait_first(10))
        finally:
            decoded.stop()
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
    finally:
        for source in sources:
            await source.stop()
        await registry.close_all()
        await phone.close()
        await viewer.close()


def trimmed_rss_kb() -> int:
    """RSS after glibc hands its free heap pages back to the system (``malloc_trim``): memory still held then is
    memory still referenced, which is what a leak is; the plain RSS also counts freed pages the allocator keeps."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return rss_kb()
    return rss_kb()


def snapshot() -> dict[str, int]:
    gc.collect()
    rss = rss_kb()
    return {"rss_kb": rss, "trimmed_rss_kb": trimmed_rss_kb(), "tasks": len(asyncio.all_tasks()), "fds": open_fds()}


async def run(cycles: int, warmup: int) -> dict[str, Any]:
    registry = PeerRegistry(MediaSettings(host_addresses=("127.0.0.1",)))
    for index in range(warmup):
        await one_cycle(registry, index)
    await asyncio.sleep(1)
    baseline = snapshot()
    checkpoints: list[int] = []
    trimmed: list[int] = []
    for index in range(cycles):
        await one_cycle(registry, warmup + index)
        if (index + 1) % 10 == 0:
            await asyncio.sleep(0.5)
            point = snapshot()
            checkpoints.append(point["rss_kb"])
            trimmed.append(point["trimmed_rss_kb"])
            print(f"cycle {index + 1}: rss {checkpoints[-1]} kB")
    await asyncio.sleep(1)
    end = snapshot()
    return {
        "cycles": cycles,
        "warmup_cycles": warmup,
        "baseline_rss_kb": baseline["rss_kb"],
        "end_rss_kb": end["rss_kb"],
        "rss_end_vs_baseline_ratio": round(end["rss_kb"] / baseline["rss_kb"], 3),
        "rss_growth_kb_per_cycle": round((end["rss_kb"] - baseline["rss_kb"]) / cycles, 1),
        "rss_checkpoints_kb": " ".join(str(value) for value in checkpoints),
        "baseline_trimmed_rss_kb": baseline["trimmed_rss_kb"],
        "end_trimmed_rss_kb": end["trimmed_rss_kb"],
        "trimmed_rss_end_vs_baseline_ratio": round(end["trimmed_rss_kb"] / baseline["trimmed_rss_kb"], 3),
        "trimmed_rss_checkpoints_kb": " ".join(str(value) for value in trimmed),
        "baseline_tasks": baseline["tasks"],
        "end_tasks": end["tasks"],
        "baseline_fds": baseline["fds"],
        "end_fds": end["fds"],
        "peers_left": len(registry),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    figures = {**asyncio.run(run(args.cycles, args.warmup)), "machine": machine(), "date": now_iso()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
