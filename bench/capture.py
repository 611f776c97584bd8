"""Capture latency: the regulator asks for a still → the server has grabbed the newest frame of the caller's live
stream, encoded it as JPEG off the event loop, sealed it in the blob store and recorded it in the case timeline.

Real Chromium caller (Y4M test pattern, 640x480) in the browser lab streaming to the server's aiortc peer; the
regulator's page times ``POST /api/cases/{id}/capture`` with ``performance.now()`` (what a click costs, minus
rendering). Baseline in the same run, alternating: ``GET /api/cases/{id}`` from the same page (an authenticated,
audited database read), so ``capture / baseline`` is what grabbing, encoding, sealing and filing add.

The capture decodes the frames the server keeps since the caller's last keyframe (``media.HistoryLimits``). The
browser's static test pattern compresses to almost nothing, so the history's worst case is measured apart, in
this process: the largest history the defaults allow (the keyframe, ``refresh_frames`` frames, and about ten
more until the requested keyframe arrives) of the relay benchmark's ~1 Mbps noisy clip: its bytes and the time
to decode it all (median of 5).

    .venv/bin/python -m bench.capture --runs 20
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av

from bench import relay
from bench.lab_runner import percentile, run_lab_benchmark
from media import HistoryLimits, decode_newest
from media.history import SinceKeyframe
from tests.e2e.lab import CHROMIUM_FLAGS, ROOT, Lab, LabServer
from tests.e2e.y4m import write_quadrants_y4m

RESULTS = Path(__file__).resolve().parent / "results" / "capture.json"

TIMED = """async ([method, path]) => {
  const csrf = JSON.parse(document.getElementById('boot').textContent).csrf;
  const started = performance.now();
  const response = await fetch(path, {method, headers: {'X-CSRF-Token': csrf}});
  await response.arrayBuffer();
  return {status: response.status, ms: performance.now() - started};
}"""


async def history_worst_case() -> dict[str, Any]:
    limits = HistoryLimits()
    relay.CLIP_FRAMES = limits.refresh_frames + 10  # a single leading keyframe, as a history at its largest
    clip = relay.encode_clip()
    history = SinceKeyframe(limits)
    for index, data in enumerate(clip):
        packet = av.Packet(data)
        packet.pts = index * 3000
        history.add(packet, keyframe=index == 0)
    assert len(history) == len(clip), "the default limits dropped a 1 Mbps history"
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        frame = await decode_newest(history.frames())
        timings.append((time.perf_counter() - started) * 1000)
        assert frame is not None and frame.pts == (len(clip) - 1) * 3000
    return {
        "history_worst_frames": len(history),
        "history_worst_kb": round(history.bytes / 1024, 1),
        "history_worst_decode_ms_median": round(statistics.median(timings), 1),
        "history_clip_kbps": round(sum(map(len, clip)) * 8 * relay.FPS / len(clip) / 1000),
    }


async def run(runs: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    load_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="lucarne-capture-"))
    lab = Lab("lcncap", workdir)
    lab.down()
    lab.up()
    server = LabServer(lab)
    try:
        server.start()
        subprocess.run([sys.executable, "-m", "server", "create-user", "regulateur", "--name", "R", "--role",
                        "regulator"], input=b"correct horse battery\n", env=server.env, cwd=ROOT, check=True,
                       capture_output=True)
        camera = write_quadrants_y4m(workdir / "quadrants.y4m")
        async with async_playwright() as pw:
            desk = await pw.chromium.launch(executable_path=str(lab.wrappers[lab.srv]), args=CHROMIUM_FLAGS)
            phone_browser = await pw.chromium.launch(executable_path=str(lab.wrappers[lab.pat]),
                                                     args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={camera}"])
            regulator = await (await desk.new_context(ignore_https_errors=True)).new_page()
            await regulator.goto(f"{server.url}/login")
            await regulator.fill("#username", "regulateur")
            await regulator.fill("#password", "correct horse battery")
            await regulator.click("#login")
            await regulator.wait_for_url("**/console")
            await regulator.goto(f"{server.url}/regulation")
            await regulator.fill("input[name=case_number]", "BENCH-1")
            await regulator.fill("input[name=caller_phone]", "+33600000000")
            await regulator.click("#open-case")
            await regulator.wait_for_url("**/regulation/*")
            case_id = regulator.url.rsplit("/", 1)[1]
            link = str(await regulator.text_content("#caller-link"))
            phone = await (await phone_browser.new_context(**pw.devices["Pixel 7"], ignore_https_errors=True)).new_page()
            await phone.goto(link)
            await phone.click("#join")  # the link's landing page
            await phone.click("#accept")
            await regulator.wait_for_function("() => document.querySelector('#live').videoWidth > 0", timeout=30_000)
            captures, baselines = [], []
            await regulator.evaluate(TIMED, ["POST", f"/api/cases/{case_id}/capture"])  # warm-up
            for _ in range(runs):
                base = await regulator.evaluate(TIMED, ["GET", f"/api/cases/{case_id}"])
                shot = await regulator.evaluate(TIMED, ["POST", f"/api/cases/{case_id}/capture"])
                assert shot["status"] == 201 and base["status"] == 200, (shot, base)
                captures.append(shot["ms"])
                baselines.append(base["ms"])
                await asyncio.sleep(0.2)
            await desk.close()
            await phone_browser.close()
    finally:
        server.stop()
        lab.down()
    capture, baseline = statistics.median(captures), statistics.median(baselines)
    return {
        **await history_worst_case(),
        "capture_ms_median": round(capture, 1),
        "capture_ms_p95": round(percentile(captures, 0.95), 1),
        "capture_ms_min": round(min(captures), 1),
        "capture_ms_max": round(max(captures), 1),
        "baseline_read_ms_median": round(baseline, 1),
        "capture_vs_read_ratio": round(capture / baseline, 2),
        "runs": runs,
        "load_avg_1m_start": round(load_start, 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    run_lab_benchmark(__doc__, 20, RESULTS, run)


if __name__ == "__main__":
    main()
