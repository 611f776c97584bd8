"""End to end in real Chromium: login, link, device check, waiting room, admission, video both ways, chat,
a dropped and restored patient network without reload, and the end of the consultation."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.lab import Lab, LabServer

pytestmark = pytest.mark.browser

FRAMES = """async () => {
  if (!window.lucarne || !window.lucarne.peers) return 0;
  let frames = 0;
  for (const id of window.lucarne.peers()) frames += (await window.lucarne.inbound(id)).framesDecoded;
  return frames;
}"""
REMOTE_PLAYING = """() => {
  const video = document.querySelector('#remote-videos video');
  return !!video && video.videoWidth > 0;
}"""


async def frames(page: Any) -> int:
    return int(await page.evaluate(FRAMES))


async def wait_frames_above(page: Any, floor: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = await frames(page)
        if current > floor:
            return current
        await asyncio.sleep(0.25)
    raise AssertionError(f"decoded frames stayed at or below {floor}; page log: "
                         f"{await page.evaluate('() => window.lucarne.log.slice(-40)')}")


def soon() -> str:
    """Half an hour from now, as the console's datetime-local field takes it (Paris time): a link opens only
    shortly before its appointment."""
    return (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")


async def open_consultation(page: Any, url: str, patient_name: str = "Jeanne Test") -> str:
    await page.goto(f"{url}/login")
    await page.fill("#username", "medecin")
    await page.fill("#password", "correct horse battery")
    await page.click("#login")
    await page.wait_for_url("**/console")
    await page.fill("input[name=patient_name]", patient_name)
    await page.fill("input[name=scheduled_at]", soon())
    await page.click("#create")
    await page.wait_for_url("**/console/c/*")
    await page.wait_for_function("() => document.querySelector('#link-url').textContent.startsWith('https://')")
    return str(await page.text_content("#link-url"))


async def patient_reaches_waiting_room(page: Any, link: str) -> None:
    await page.goto(link)
    await page.click("#join")  # the link's landing page: opening a link uses nothing until this tap
    await page.wait_for_url("**/visit")
    await page.wait_for_selector("#continue:not([disabled])", timeout=15_000)
    await page.click("#continue")
    await page.wait_for_function("() => window.lucarne.state === 'waiting'")


async def test_consultation_end_to_end_with_network_drop(lab: Lab, lab_server: LabServer,
                                                         browsers: dict[str, Any]) -> None:
    playwright = browsers["playwright"]
    doctor_context = await browsers["practitioner"].new_context(ignore_https_errors=True)
    patient_context = await browsers["patient"].new_context(**playwright.devices["Pixel 7"], ignore_https_errors=True)
    doctor, patient = await doctor_context.new_page(), await patient_context.new_page()
    errors: list[str] = []
    for page in (doctor, patient):
        page.on("pageerror", lambda error: errors.append(str(error)))

    link = await open_consultation(doctor, lab_server.url)
    assert link.startswith(lab_server.url + "/j/")
    await patient_reaches_waiting_room(patient, link)
    assert "/j/" not in patient.url  # the token left the address bar

    # One click: admitting the patient puts both pages in the call (no separate "start the call").
    await doctor.click("#waiting-list li[data-state=waiting] .admit")
    await doctor.wait_for_function("() => window.lucarne.state === 'in_call'")
    await patient.wait_for_function("() => window.lucarne.state === 'call'")
    for page in (doctor, patient):
        await page.wait_for_function(REMOTE_PLAYING, timeout=20_000)
        first = await wait_frames_above(page, 0, 10)
        await wait_frames_above(page, first + 10, 10)  # frames keep being decoded

    await patient.fill("#chat-input", "J'ai mal à la gorge")
    await patient.click("#chat-send")
    await doctor.wait_for_selector(".chat-msg:has-text(\"J'ai mal à la gorge\")")
    await doctor.fill("#chat-input", "Depuis quand ?")
    await doctor.click("#chat-send")
    await patient.wait_for_selector(".chat-msg:has-text('Depuis quand ?')")

    # Controls: microphone and camera toggles act on the local tracks; switching camera keeps video flowing.
    local_enabled = "(kind) => document.querySelector('#local-video').srcObject.getTracks()" \
                    ".filter((t) => t.kind === kind).every((t) => t.enabled)"
    # The other side sees it in words on the patient's video.
    note = "#remote-videos .remote-media-note"
    await patient.click("#mute")
    assert await patient.evaluate(local_enabled, "audio") is False
    await doctor.wait_for_selector(f"{note}:not(.hidden):has-text('Micro')")
    await patient.click("#mute")
    assert await patient.evaluate(local_enabled, "audio") is True
    await doctor.wait_for_selector(note, state="hidden")
    await patient.click("#camera-off")
    assert await patient.evaluate(local_enabled, "video") is False
    await doctor.wait_for_selector(f"{note}:not(.hidden):has-text('Cam')")
    await patient.click("#camera-off")
    await doctor.wait_for_selector(note, state="hidden")
    await patient.click("#switch-camera")
    await wait_frames_above(doctor, await frames(doctor) + 15, 15)

    # The phone loses its network for a few seconds, then gets it back: no reload, no re-admission.
    await patient.evaluate("() => { window.__sameDocument = true; }")
    lab.cut()
    await asyncio.sleep(4)
    before = {"doctor": await frames(doctor), "patient": await frames(patient)}
    lab.restore()
    await wait_frames_above(patient, before["patient"] + 20, 45)
    await wait_frames_above(doctor, before["doctor"] + 20, 45)
    assert await patient.evaluate("() => window.__sameDocument === true")
    assert await patient.evaluate("() => window.lucarne.state") == "call"

    # The patient hangs up, joins again and is admitted again: the chat so far is shown again.
    await patient.click("#hangup")
    await patient.wait_for_function("() => window.lucarne.state === 'left'")
    await patient.click("#rejoin")
    await patient.wait_for_selector("#continue:not([disabled])", timeout=15_000)
    await patient.click("#continue")
    await patient.wait_for_function("() => window.lucarne.state === 'waiting'")
    await doctor.click("#waiting-list li[data-state=waiting] .admit")
    await patient.wait_for_function("() => window.lucarne.state === 'call'")
    for text in ("J'ai mal à la gorge", "Depuis quand ?"):
        await patient.wait_for_selector(f".chat-msg:has-text(\"{text}\")", timeout=5_000)

    await doctor.fill("#report", "Angine virale, traitement symptomatique.")
    # Ending asks first, in a dialog the keyboard reaches: Escape keeps the call, Tab then Enter ends it.
    await doctor.click("#end-call")
    await doctor.wait_for_selector("#end-dialog[open]")
    await doctor.keyboard.press("Escape")
    await doctor.wait_for_selector("#end-dialog", state="hidden")
    assert await patient.evaluate("() => window.lucarne.state") == "call"
    await doctor.click("#end-call")
    await doctor.wait_for_function("() => document.activeElement.id === 'end-cancel'")
    await doctor.keyboard.press("Tab")
    assert await doctor.evaluate("() => document.activeElement.id") == "end-confirm"
    await doctor.keyboard.press("Enter")
    await patient.wait_for_function("() => window.lucarne.state === 'ended'")
    assert await patient.is_visible("#ended")
    # The practitioner's page is read-only now, and stays so after a reload: no link to copy or renew, nobody online.
    for _ in range(2):
        await doctor.wait_for_function("() => window.lucarne.state === 'ended'")
        for action in ("#copy-link", "#new-link", "#new-guest-link", "#link-url"):
            assert not await doctor.is_visible(action), action
        assert await doctor.locator("#waiting-list .badge.online, #waiting-list .badge.in-call").count() == 0
        await doctor.reload()
    assert errors == []
    await doctor_context.close()
    await patient_context.close()


async def test_practitioner_removes_a_waiting_patient(lab: Lab, lab_server: LabServer,
                                                      browsers: dict[str, Any]) -> None:
    playwright = browsers["playwright"]
    doctor_context = await browsers["practitioner"].new_context(ignore_https_errors=True)
    patient_context = await browsers["patient"].new_context(**playwright.devices["Pixel 7"], ignore_https_errors=True)
    doctor, patient = await doctor_context.new_page(), await patient_context.new_page()
    try:
        link = await open_consultation(doctor, lab_server.url)
        await patient_reaches_waiting_room(patient, link)
        await doctor.click("#waiting-list li[data-state=waiting] .remove")
        await patient.wait_for_function("() => window.lucarne.state === 'ended'")
        words = (await patient.text_content("#ended-over") or "").lower()
        assert "retiré" in words or "removed" in words, words
        await doctor.wait_for_selector("#waiting-list li", state="detached")
        await patient.reload()  # its access is over: the page no longer opens
        assert "/visit" not in patient.url or not await patient.is_visible("#continue")
    finally:
        await doctor_context.close()
        await patient_context.close()


@pytest.mark.parametrize(
    ("dropped_flag", "expected"),
    [("--use-fake-ui-for-media-stream", ("autoris", "allow")),  # the permission prompt is refused
     ("--use-fake-device-for-media-stream", ("micro", "microphone"))],  # the phone has no camera or microphone
)
async def test_patient_sees_clear_help_when_devices_are_refused_or_missing(
    lab: Lab, lab_server: LabServer, browsers: dict[str, Any], dropped_flag: str, expected: tuple[str, str]
) -> None:
    from tests.e2e.lab import CHROMIUM_FLAGS

    doctor_context = await browsers["practitioner"].new_context(ignore_https_errors=True)
    doctor = await doctor_context.new_page()
    link = await open_consultation(doctor, lab_server.url)
    strict = await browsers["playwright"].chromium.launch(
        executable_path=str(lab.wrappers[lab.pat]), args=[flag for flag in CHROMIUM_FLAGS if flag != dropped_flag])
    try:
        context = await strict.new_context(ignore_https_errors=True, permissions=[])
        page = await context.new_page()
        await page.goto(link)
        await page.click("#join")  # the link's landing page
        await page.wait_for_selector("#check-help:not(.hidden)", timeout=15_000)
        help_text = (await page.text_content("#check-help") or "").lower()
        assert any(word in help_text for word in expected), help_text
        assert await page.is_disabled("#continue")
    finally:
        await strict.close()
        await doctor_context.close()
