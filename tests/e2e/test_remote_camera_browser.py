"""Remote camera in real Chromium: a caller's phone streams a known test pattern to the server; two
professionals watch it live; a capture taken by the server from the stream decrypts to the right colours."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import subprocess
import sys
import time
from typing import Any

import pytest
from PIL import Image

from tests.e2e.lab import CHROMIUM_FLAGS, ROOT, Lab, LabServer
from tests.e2e.y4m import QUADRANTS, write_quadrants_y4m

pytestmark = pytest.mark.browser

API = """async ([method, path, body]) => {
  const csrf = JSON.parse(document.getElementById('boot').textContent).csrf;
  const response = await fetch(path, {method, headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                                      body: body === null ? undefined : JSON.stringify(body)});
  const type = response.headers.get('Content-Type') || '';
  if (type.startsWith('image/')) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    let binary = ''; for (const b of bytes) binary += String.fromCharCode(b);
    return {status: response.status, image: btoa(binary)};
  }
  return {status: response.status, body: await response.json()};
}"""

async def _login(page: Any, url: str, username: str) -> None:
    await page.goto(f"{url}/login")
    await page.fill("#username", username)
    await page.fill("#password", "correct horse battery")
    await page.click("#login")
    await page.wait_for_url("**/regulation")  # a regulator lands on its cases


async def test_caller_streams_two_professionals_watch_and_the_server_captures(
        lab: Lab, lab_server: LabServer, browsers: dict[str, Any]) -> None:
    for name in ("regulateur", "docteur"):
        subprocess.run([sys.executable, "-m", "server", "create-user", name, "--name", name, "--role", "regulator"],
                       input=b"correct horse battery\n", env=lab_server.env, cwd=ROOT, check=True, capture_output=True)
    camera = write_quadrants_y4m(lab.workdir / "quadrants.y4m")
    pw = browsers["playwright"]
    caller_browser = await pw.chromium.launch(executable_path=str(lab.wrappers[lab.pat]),
                                              args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={camera}"])
    try:
        regulator = await (await browsers["practitioner"].new_context(ignore_https_errors=True)).new_page()
        await _login(regulator, lab_server.url, "regulateur")
        await regulator.goto(f"{lab_server.url}/regulation")
        await regulator.fill("input[name=case_number]", "SAMU-E2E-1")
        await regulator.fill("input[name=caller_phone]", "+33600000000")
        await regulator.fill("input[name=reason]", "chute")
        await regulator.click("#open-case")
        await regulator.wait_for_url("**/regulation/*")
        case_id = regulator.url.rsplit("/", 1)[1]
        link = str(await regulator.text_content("#caller-link"))
        await regulator.fill("#member-username", "docteur")
        await regulator.click("#add-member")

        phone = await (await caller_browser.new_context(
            **pw.devices["Pixel 7"], ignore_https_errors=True, permissions=["geolocation"],
            geolocation={"latitude": 45.76404, "longitude": 4.83566, "accuracy": 35})).new_page()
        await phone.goto(link)
        await phone.click("#join")  # the link's landing page: the link binds to this phone only on this tap
        await phone.wait_for_url("**/caller")
        await phone.click("#accept")
        await phone.wait_for_function("() => window.lucarne && window.lucarne.connection === 'connected'",
                                      timeout=20_000)

        # The case page starts watching when the timeline shows the stream, then the regulator captures.
        await regulator.wait_for_function("() => document.querySelector('#live').videoWidth > 0", timeout=20_000)
        await regulator.click("#capture")
        await regulator.wait_for_selector("#captures img[data-capture]", timeout=10_000)
        capture_id = await regulator.get_attribute("#captures img[data-capture]", "data-capture")
        # The gallery says when, by whom and where, and opens the capture in the page (not a download).
        caption = await regulator.text_content("#captures figure figcaption") or ""
        assert re.search(r"\d\d:\d\d:\d\d", caption) and ("régulateur" in caption or "regulator" in caption)
        assert "non partagée" in caption or "not shared" in caption, caption
        await regulator.click("#captures figure button")
        assert await regulator.evaluate("() => document.querySelector('#capture-dialog').open")
        assert capture_id in (await regulator.get_attribute("#capture-dialog img", "src") or "")
        await regulator.click("#capture-dialog [data-close]")
        assert not await regulator.evaluate("() => document.querySelector('#capture-dialog').open")
        # Before the caller shares a position the box says so, with no empty fields on show.
        assert await regulator.is_visible("#position-none") and not await regulator.is_visible("#position")
        fetched = await regulator.evaluate(API, ["GET", f"/api/cases/{case_id}/captures/{capture_id}.jpg", None])
        image = Image.open(io.BytesIO(base64.b64decode(fetched["image"]))).convert("RGB")
        width, height = image.size
        for (qx, qy), colour in QUADRANTS.items():
            pixel = image.getpixel((qx * width // 2 + width // 4, qy * height // 2 + height // 4))
            assert all(abs(a - b) <= 40 for a, b in zip(pixel, colour, strict=True)), ((qx, qy), pixel)

        # The caller shares its position: the regulator sees coordinates, accuracy, age, a local plot and a map link
        # (nothing fetched from another site).
        await phone.click("#share-location")
        await regulator.wait_for_function(
            "() => document.querySelector('#position-coords').textContent === '45.76404, 4.83566'", timeout=15_000)
        assert await regulator.text_content("#position-accuracy") == "± 35 m"
        assert "mlat=45.764040&mlon=4.835660" in (await regulator.get_attribute("#position-osm", "href") or "")
        assert (await regulator.text_content("#position-age") or "").strip() != ""
        assert await regulator.eval_on_selector("#position-plot", "svg => svg.querySelectorAll('circle').length") >= 3

        # Camera control: the phone switches camera (video keeps flowing) and reports it has no torch.
        await regulator.click("#switch-camera")
        await regulator.wait_for_selector("#timeline li[data-kind='caller.camera.switched']", timeout=15_000)
        await regulator.click("#torch-on")
        await regulator.wait_for_selector("#timeline li[data-kind='caller.torch']", timeout=15_000)
        assert "torch" in (await regulator.text_content("#status") or "").lower()

        # A second professional (added to the case) watches the same caller at the same time.
        doctor = await (await browsers["practitioner"].new_context(ignore_https_errors=True)).new_page()
        await _login(doctor, lab_server.url, "docteur")
        await doctor.goto(f"{lab_server.url}/regulation/{case_id}")
        await doctor.wait_for_function("() => document.querySelector('#live').videoWidth > 0", timeout=20_000)
        assert await regulator.evaluate("() => document.querySelector('#live').videoWidth > 0")
        assert (await regulator.evaluate(API, ["GET", f"/api/cases/{case_id}", None]))["body"]["viewers"] == 2
        # The doctor leaves the case page: Chromium closes the connection and the server releases that viewer's
        # peer at once (a viewer that vanishes without closing would stay until ICE consent fails, about 30 s).
        await doctor.goto(f"{lab_server.url}/console")
        for _ in range(150):  # well under the 30 s the consent checks would take
            if (await regulator.evaluate(API, ["GET", f"/api/cases/{case_id}", None]))["body"]["viewers"] == 1:
                break
            await asyncio.sleep(0.1)
        assert (await regulator.evaluate(API, ["GET", f"/api/cases/{case_id}", None]))["body"]["viewers"] == 1

        second = await (await caller_browser.new_context(ignore_https_errors=True)).new_page()
        await second.goto(link)
        async with second.expect_navigation() as navigation:
            await second.click("#join")
        refused = await navigation.value
        assert refused is not None and refused.status == 409

        timeline = await regulator.evaluate(API, ["GET", f"/api/cases/{case_id}/timeline", None])
        kinds = [event["kind"] for event in timeline["body"]["events"]]
        for kind in ("link.opened", "caller.consent", "stream.started", "capture", "link.refused"):
            assert kind in kinds, kinds
        await regulator.wait_for_function(  # the regulator is alerted, in words
            "() => /autre appareil|device other than/.test(document.querySelector('#status').textContent)",
            timeout=10_000)
        # The timeline speaks sentences, newest first (seen without scrolling): no event name, no refusal code.
        await regulator.wait_for_selector("#timeline li[data-kind='link.refused']", timeout=5_000)
        shown = await regulator.eval_on_selector_all("#timeline li", "items => items.map(i => i.textContent)")
        assert not [line for line in shown if re.search(r"[a-z]+\.[a-z_]+|other_device", line)], shown
        assert await regulator.get_attribute("#timeline li:first-child", "data-kind") == "link.refused"
        assert await regulator.text_content("#case-status") in ("En cours", "In progress")

        # The caller sends a photo from the phone, then stops sharing: both reach the timeline.
        await phone.click("#send-photo")
        await regulator.wait_for_function("() => document.querySelectorAll('#captures img').length >= 2",
                                          timeout=15_000)
        # The phone says so in words (it once showed the raw key, or a status code when refused).
        await phone.wait_for_function(
            "() => ['Photo envoyée', 'Photo sent'].includes(document.querySelector('#caller-status').textContent)",
            timeout=10_000)
        await phone.click("#stop")
        await regulator.wait_for_selector("#timeline li[data-kind='stream.stopped']", timeout=20_000)
        await regulator.wait_for_selector("#timeline li[data-kind='caller.sharing.stopped']", timeout=5_000)
        # The banner over the video says the caller stopped (not a lost connection, not a frozen picture).
        assert await regulator.evaluate(BANNER_STATE) == "stopped"
        closed = await regulator.evaluate(API, ["POST", f"/api/cases/{case_id}/close", None])
        assert closed["status"] == 200
    finally:
        await caller_browser.close()


BANNER_STATE = "() => { const b = document.querySelector('#stream-banner'); return b.hidden ? 'hidden' : b.dataset.state; }"


async def test_the_regulator_sees_a_frozen_banner_within_3_s_of_the_callers_network_being_cut(
        lab: Lab, lab_server: LabServer, browsers: dict[str, Any]) -> None:
    subprocess.run([sys.executable, "-m", "server", "create-user", "regulateur", "--name", "regulateur", "--role",
                    "regulator"], input=b"correct horse battery\n", env=lab_server.env, cwd=ROOT, check=True,
                   capture_output=True)
    pw = browsers["playwright"]
    regulator = await (await browsers["practitioner"].new_context(ignore_https_errors=True)).new_page()
    await _login(regulator, lab_server.url, "regulateur")
    await regulator.goto(f"{lab_server.url}/regulation")
    await regulator.fill("input[name=case_number]", "SAMU-E2E-CUT")
    await regulator.fill("input[name=caller_phone]", "+33600000000")
    await regulator.click("#open-case")
    await regulator.wait_for_url("**/regulation/*")
    assert await regulator.evaluate(BANNER_STATE) == "waiting"
    link = str(await regulator.text_content("#caller-link"))
    small_phone = {**pw.devices["Pixel 7"], "viewport": {"width": 360, "height": 740}}
    phone = await (await browsers["patient"].new_context(
        **small_phone, ignore_https_errors=True, permissions=["geolocation"],
        geolocation={"latitude": 45.76404, "longitude": 4.83566, "accuracy": 35})).new_page()
    await phone.goto(link)
    await phone.click("#join")
    await phone.wait_for_url("**/caller")
    await phone.click("#accept")
    await regulator.wait_for_function(f"() => ({BANNER_STATE})() === 'hidden'", timeout=20_000)
    assert await regulator.evaluate("() => window.lucarne.stream") == "live"
    # The caller's page fits a 360 px screen, says the regulator sees the camera, and confirms the position sent.
    await phone.wait_for_function("() => document.querySelector('#preview').videoWidth > 0", timeout=10_000)
    assert await phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    await phone.wait_for_selector("#on-air[data-state='live']", timeout=10_000)
    assert "régulateur voit" in (t := await phone.text_content("#on-air") or "") or "regulator sees" in t
    await phone.click("#share-location")
    await phone.wait_for_function("() => /Position envoyée|Location sent/.test("
                                  "document.querySelector('#caller-status').textContent)", timeout=10_000)

    lab.cut()
    cut_at = time.monotonic()
    await regulator.wait_for_function(f"() => ({BANNER_STATE})() === 'frozen'", timeout=3_000)
    assert time.monotonic() - cut_at <= 3.0
    assert "2 s" in (await regulator.text_content("#stream-banner") or "")

    lab.restore()  # the caller's network comes back: frames flow again and the banner goes away
    await regulator.wait_for_function(f"() => ({BANNER_STATE})() === 'hidden'", timeout=20_000)
