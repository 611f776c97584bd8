"""Relay through the server in real Chromium: with LUCARNE_MEDIA_RELAY=always, a practitioner and a patient send
their media to the server, which forwards it encoded; remote video plays both ways, both pages say the call
goes through the server, and hanging up leaves no server-side peer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.e2e.lab import Lab, LabServer
from tests.e2e.test_teleconsultation_browser import (
    REMOTE_PLAYING, open_consultation, patient_reaches_waiting_room, wait_frames_above,
)

pytestmark = pytest.mark.browser

MEDIA = """async (cid) => {
  const response = await fetch(`/api/consultations/${cid}/media`);
  return {status: response.status, body: await response.json()};
}"""


async def _media(doctor: Any, cid: str) -> dict[str, Any]:
    result = await doctor.evaluate(MEDIA, cid)
    assert result["status"] == 200, result
    return result["body"]  # type: ignore[no-any-return]


async def _wait_media(doctor: Any, cid: str, condition: Any, timeout_s: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status = await _media(doctor, cid)
        if condition(status) or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.3)


async def test_forced_relay_carries_video_both_ways_through_the_server(lab: Lab, browsers: dict[str, Any]) -> None:
    server = LabServer(lab)
    # The server's ports sit below Linux's ephemeral range (32768+), where Chromium's own ports never are.
    server.start(LUCARNE_MEDIA_RELAY="always", LUCARNE_MEDIA_HOSTS=lab.srv_ip, LUCARNE_MEDIA_PORTS="20000-20100")
    try:
        playwright = browsers["playwright"]
        doctor_context = await browsers["practitioner"].new_context(ignore_https_errors=True)
        patient_context = await browsers["patient"].new_context(**playwright.devices["Pixel 7"],
                                                                ignore_https_errors=True)
        doctor, patient = await doctor_context.new_page(), await patient_context.new_page()
        errors: list[str] = []
        for page in (doctor, patient):
            page.on("pageerror", lambda error: errors.append(str(error)))

        await open_consultation(doctor, server.url)
        cid = doctor.url.rsplit("/", 1)[1]
        link = str(await doctor.text_content("#link-url"))
        await patient_reaches_waiting_room(patient, link)
        await doctor.click("#start-call")
        await doctor.wait_for_function("() => window.lucarne.state === 'in_call'")
        await doctor.click("#waiting-list li[data-state=waiting] .admit")
        await patient.wait_for_function("() => window.lucarne.state === 'call'")

        for page in (doctor, patient):
            try:
                await page.wait_for_function(REMOTE_PLAYING, timeout=30_000)
            except Exception as exc:
                logs = [await p.evaluate("() => window.lucarne.log.slice(-60)") for p in (doctor, patient)]
                raise AssertionError(f"no remote video; server relay {await _media(doctor, cid)}; "
                                     f"practitioner log {logs[0]}; patient log {logs[1]}; "
                                     f"server log {(lab.workdir / 'server.log').read_text()[-4000:]}") from exc
            first = await wait_frames_above(page, 0, 10)
            await wait_frames_above(page, first + 10, 10)  # frames keep being decoded
            assert await page.evaluate("() => window.lucarne.mediaPath()") == "server"
            await page.wait_for_function(
                "() => /serveur|server/i.test(document.querySelector('#status').textContent)", timeout=10_000)

        # The server holds the four forwarding peers (each side's upload and download); it forwards both media
        # kinds and decodes nothing.
        status = await _wait_media(doctor, cid, lambda s: len(s["peers"]) == 4 and all(
            leg["state"] == "connected" for leg in s["peers"]))
        assert status["relay"] == "always"
        legs = status["peers"]
        assert sorted(leg["role"] for leg in legs) == ["pub", "pub", "sub", "sub"], legs
        assert all(leg["state"] == "connected" for leg in legs), legs
        for leg in legs:
            if leg["role"] == "pub":
                assert leg["forwarded"]["video"] > 0 and leg["forwarded"]["audio"] > 0, leg
                assert leg["decoded"] == 0, leg
            else:
                assert leg["sent"]["video"] > 0, leg

        # Both browsers receive from the server's peers (ports of LUCARNE_MEDIA_PORTS), not from each other.
        for page in (doctor, patient):
            pair = await page.evaluate("async () => window.lucarne.selectedPair(window.lucarne.peers()[0])")
            assert pair is not None and pair["remote"]["address"] == lab.srv_ip, pair
            assert 20000 <= pair["remote"]["port"] <= 20100, pair

        await patient.click("#hangup")
        status = await _wait_media(doctor, cid, lambda s: not s["peers"], 10)
        assert status["peers"] == []
        assert errors == []
        await doctor.click("#end-call")
        await doctor_context.close()
        await patient_context.close()
    finally:
        server.stop()


async def test_auto_relay_takes_over_when_the_browsers_cannot_reach_each_other(lab: Lab, browsers: dict[str, Any]) -> None:
    lab.add_doctor_network()  # the practitioner's browser reaches the server but not the patient's browser
    server = LabServer(lab)
    server.start(LUCARNE_MEDIA_RELAY="auto", LUCARNE_MEDIA_RELAY_AFTER="4")
    playwright = browsers["playwright"]
    from tests.e2e.lab import CHROMIUM_FLAGS

    isolated = await playwright.chromium.launch(executable_path=str(lab.wrappers[lab.doc]), args=CHROMIUM_FLAGS)
    try:
        doctor = await (await isolated.new_context(ignore_https_errors=True)).new_page()
        patient = await (await browsers["patient"].new_context(**playwright.devices["Pixel 7"],
                                                               ignore_https_errors=True)).new_page()
        await open_consultation(doctor, server.url)
        cid = doctor.url.rsplit("/", 1)[1]
        await patient_reaches_waiting_room(patient, str(await doctor.text_content("#link-url")))
        await doctor.click("#start-call")
        await doctor.wait_for_function("() => window.lucarne.state === 'in_call'")
        await doctor.click("#waiting-list li[data-state=waiting] .admit")
        await patient.wait_for_function("() => window.lucarne.state === 'call'")
        for page in (doctor, patient):
            try:
                await page.wait_for_function(REMOTE_PLAYING, timeout=40_000)
            except Exception as exc:
                logs = [await p.evaluate("() => window.lucarne.log.slice(-60)") for p in (doctor, patient)]
                raise AssertionError(f"no remote video; practitioner log {logs[0]}; patient log {logs[1]}") from exc
            first = await wait_frames_above(page, 0, 10)
            await wait_frames_above(page, first + 10, 10)
            assert await page.evaluate("() => window.lucarne.mediaPath()") == "server"
        log = "\n".join(await doctor.evaluate("() => window.lucarne.log") + await patient.evaluate(
            "() => window.lucarne.log"))
        assert "peer-to-peer connection after" in log or "ICE failed" in log, log  # it tried direct first
        status = await _wait_media(doctor, cid, lambda s: len(s["peers"]) == 4)
        assert status["relay"] == "auto" and len(status["peers"]) == 4, status
        await doctor.click("#hangup")
        assert (await _wait_media(doctor, cid, lambda s: not s["peers"], 10))["peers"] == []
    finally:
        await isolated.close()
        server.stop()
