"""Join time: patient opens the link → first remote video frame presented in the patient's browser.

Real Chromium in the e2e network lab (tests/e2e/lab.py), the server as its own process. Each run uses a new
consultation and a new phone-emulated patient context; the scripted patient clicks "continue" as soon as the
device check allows it and the scripted practitioner admits as soon as the patient is waiting, so the figure is
the platform's own latency (navigation, link exchange, device check, signaling, admission, ICE, DTLS, first frame).

The two scripted users react from inside their pages: a script in each page clicks the button (a DOM click on
the real element, through the page's real handlers) as soon as it is enabled or shown. Driving the clicks from
Python through Playwright adds the test driver's round trips to the figure, not the platform's (about 180 ms
per click on a loaded 2-core machine); that variant is measured in the same run, alternated, and reported as
``join_ms_median_driver_clicks``. A join counts only if the remote video really plays (not paused, no
tap-to-play): a DOM click is no user activation, so a blocked autoplay would make the figure meaningless.

Baseline in the same run: the floor — the same browser loading a static page that only opens the camera and
presents its first local frame (no link exchange, no signaling, no WebRTC). ``join / floor`` is what the call
set-up adds on top of what any camera page costs.

    sudo .venv/bin/python -m bench.join --runs 10
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.lab_runner import percentile, run_lab_benchmark
from tests.e2e.lab import CHROMIUM_FLAGS, Lab, LabServer
from tests.e2e.test_teleconsultation_browser import soon

RESULTS = Path(__file__).resolve().parent / "results" / "join.json"
# The scripted patient: clicks "continue" as soon as the device check enables it (installed before the page runs).
PRESS_CONTINUE = """document.addEventListener('DOMContentLoaded', () => {
  const button = document.getElementById('continue');
  if (!button) return;
  const press = () => {
    if (button.disabled || button.dataset.benchPressed) return;
    button.dataset.benchPressed = '1';
    button.click();
  };
  new MutationObserver(press).observe(button, { attributes: true, attributeFilter: ['disabled'] });
  press();
});"""
# The scripted practitioner: admits the first patient who appears in the waiting room.
PRESS_ADMIT = """() => {
  const list = document.getElementById('waiting-list');
  const admit = () => {
    const button = list.querySelector('li[data-state=waiting] .admit');
    if (!button || button.disabled || button.dataset.benchPressed) return;
    button.dataset.benchPressed = '1';
    button.click();
  };
  new MutationObserver(admit).observe(list, { childList: true, subtree: true, attributes: true });
  admit();
}"""
REMOTE_PLAYING = """() => {
  const video = document.querySelector('#remote-videos video');
  return Boolean(video && !video.paused && video.videoWidth > 0
                 && document.getElementById('tap-to-play').classList.contains('hidden'));
}"""
# When the page reached each milestone (epoch ms): the navigation's own timings, then the page's marks.
PAGE_MARKS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const at = (t) => performance.timeOrigin + t;
  return {
    nav_response_start: at(nav.responseStart), nav_response_end: at(nav.responseEnd),
    nav_dom_content_loaded: at(nav.domContentLoadedEventEnd), ...window.lucarne.marks,
  };
}"""



async def login(page: Any, url: str) -> None:
    await page.goto(f"{url}/login")
    await page.fill("#username", "medecin")
    await page.fill("#password", "correct horse battery")
    await page.click("#login")
    await page.wait_for_url("**/console")


async def new_room(page: Any, url: str) -> str:
    await page.goto(f"{url}/console")
    await page.fill("input[name=patient_name]", "Bench Patient")
    await page.fill("input[name=scheduled_at]", soon())  # a link opens only shortly before its appointment
    await page.click("#create")
    await page.wait_for_url("**/console/c/*")
    await page.wait_for_function("() => document.querySelector('#link-url').textContent.startsWith('https://')")
    await page.click("#start-call")
    await page.wait_for_function("() => window.lucarne.state === 'in_call'")
    return str(await page.text_content("#link-url"))


async def one_join(pw: Any, patient_browser: Any, doctor: Any, url: str, *, in_page: bool) -> dict[str, float]:
    link = await new_room(doctor, url)
    context = await patient_browser.new_context(**pw.devices["Pixel 7"], ignore_https_errors=True)
    if in_page:
        await context.add_init_script(PRESS_CONTINUE)
        await doctor.evaluate(PRESS_ADMIT)
    page = await context.new_page()
    started = time.time() * 1000
    await page.goto(link)
    await page.click("#join")  # the link's landing page (a link is used only by this tap)
    if not in_page:
        await page.wait_for_selector("#continue:not([disabled])", timeout=20_000)
        await page.click("#continue")
        await doctor.wait_for_selector("#waiting-list li[data-state=waiting] .admit", timeout=20_000)
        await doctor.click("#waiting-list li[data-state=waiting] .admit")
    await page.wait_for_function("() => !!window.lucarne.firstFrameAt", timeout=30_000, polling=20)
    first_frame = float(await page.evaluate("() => window.lucarne.firstFrameAt"))
    playing = await page.evaluate(REMOTE_PLAYING)
    marks = await page.evaluate(PAGE_MARKS)
    await context.close()
    if not playing:
        raise RuntimeError("the remote video does not play (autoplay blocked?): this join cannot count")
    phases = {name: at - started for name, at in marks.items()}
    return {"join_ms": first_frame - started, **phases}


async def one_floor(patient_browser: Any, url: str) -> float:
    context = await patient_browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    started = time.time() * 1000
    await page.goto(f"{url}/static/floor.html")
    await page.wait_for_function("() => !!window.floorFrameAt", timeout=20_000, polling=20)
    presented = float(await page.evaluate("() => window.floorFrameAt"))
    await context.close()
    return presented - started


async def run(runs: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    workdir = Path(tempfile.mkdtemp(prefix="lucarne-join-"))
    lab = Lab("lcnbench", workdir)
    lab.down()
    lab.up()
    server = LabServer(lab)
    try:
        server.start()
        async with async_playwright() as pw:
            doctor_browser = await pw.chromium.launch(executable_path=str(lab.wrappers[lab.srv]), args=CHROMIUM_FLAGS)
            patient_browser = await pw.chromium.launch(executable_path=str(lab.wrappers[lab.pat]), args=CHROMIUM_FLAGS)
            doctor = await (await doctor_browser.new_context(ignore_https_errors=True)).new_page()
            await login(doctor, server.url)
            joins, driven, floors = [], [], []
            phases: dict[str, list[float]] = {}
            await one_join(pw, patient_browser, doctor, server.url, in_page=True)  # warm-up, not counted
            for index in range(runs):
                # Alternate the measurements so drift affects all alike.
                floors.append(await one_floor(patient_browser, server.url))
                result = await one_join(pw, patient_browser, doctor, server.url, in_page=True)
                driven.append((await one_join(pw, patient_browser, doctor, server.url, in_page=False))["join_ms"])
                joins.append(result["join_ms"])
                for name, value in result.items():
                    phases.setdefault(name, []).append(value)
                print(f"run {index + 1}: join {joins[-1]:.0f} ms (driver clicks {driven[-1]:.0f} ms), "
                      f"floor {floors[-1]:.0f} ms")
                in_order = sorted(result.items(), key=lambda item: item[1])
                print("   " + ", ".join(f"{name} {value:.0f}" for name, value in in_order))
            await doctor_browser.close()
            await patient_browser.close()
    finally:
        server.stop()
        lab.down()
    median_join, median_floor = statistics.median(joins), statistics.median(floors)
    return {
        "join_ms_median": round(median_join, 1),
        "join_ms_p95": round(percentile(joins, 0.95), 1),
        "join_ms_min": round(min(joins), 1),
        "join_ms_max": round(max(joins), 1),
        "join_ms_median_driver_clicks": round(statistics.median(driven), 1),
        "floor_ms_median": round(median_floor, 1),
        "join_vs_floor_ratio": round(median_join / median_floor, 2),
        "runs": runs,
        # Median time from opening the link to each milestone (only those every run reached).
        **{f"at_ms_{name}": round(statistics.median(values), 1) for name, values in phases.items()
           if len(values) == runs and name != "join_ms"},
    }



def main() -> None:
    run_lab_benchmark(__doc__, 10, RESULTS, run)


if __name__ == "__main__":
    main()
