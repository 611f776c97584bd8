"""Regulation over HTTP against the real server: case API, caller link on one device, caller uploads."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.fakes import Browser, join_as_patient, make_user, new_consultation, open_link

CASE = {"case_number": "SAMU69-0001", "caller_phone": "+33 6 00 00 00 01", "reason": "Détresse respiratoire"}


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def _regulator(server: Any, name: str = "regulateur") -> Browser:
    await make_user(server, name, role="regulator")
    browser = Browser(server)
    assert (await browser.login(name)).status == 303
    return browser


async def test_case_caller_link_photo_and_timeline(live_server: Any) -> None:
    async with await _regulator(live_server) as regulator, Browser(live_server) as phone, \
            Browser(live_server) as second_phone:
        created = await regulator.api("POST", "/api/cases", json=CASE)
        assert created.status == 201
        body = await created.json()
        case_id, link = body["case"]["id"], body["link"]
        path = link["url"].removeprefix(live_server.url)

        opened = await open_link(phone, path)
        assert opened.status == 303 and opened.headers["Location"] == "/caller"
        assert (await phone.session.get("/caller")).status == 200
        assert (await open_link(phone, path)).status == 303  # same phone may reload
        refused = await open_link(second_phone, path)
        assert refused.status == 409 and "Traceback" not in await refused.text()

        page = await (await phone.session.get("/caller")).text()
        import re

        phone.csrf = re.search(r'"csrf":\s*"([^"]+)"', page).group(1)  # type: ignore[union-attr]
        assert (await phone.api("POST", "/api/caller/events", json={"kind": "consent", "detail": {}})).status == 200
        bad_event = await phone.api("POST", "/api/caller/events", json={"kind": "format-disk"})
        assert bad_event.status == 400
        sent = await phone.api("POST", "/api/caller/stills?source=photo&lat=45.76&lon=4.83", data=_jpeg(),
                               headers={"Content-Type": "image/jpeg"})
        assert sent.status == 201
        not_image = await phone.api("POST", "/api/caller/stills", data=b"<svg/>", headers={"Content-Type": "image/png"})
        assert not_image.status == 400

        events = (await (await regulator.api("GET", f"/api/cases/{case_id}/timeline")).json())["events"]
        kinds = [event["kind"] for event in events]
        assert kinds.index("link.opened") < kinds.index("caller.consent") < kinds.index("capture")
        assert "link.refused" in kinds
        captures = (await (await regulator.api("GET", f"/api/cases/{case_id}/captures")).json())["captures"]
        assert captures[0]["location"]["lat"] == 45.76
        image = await regulator.api("GET", f"/api/cases/{case_id}/captures/{captures[0]['id']}.jpg")
        assert image.status == 200 and image.content_type == "image/jpeg"
        assert Image.open(io.BytesIO(await image.read())).size == (320, 240)

        assert (await phone.api("GET", "/api/cases")).status == 403  # a caller is not a professional
        closed = await regulator.api("POST", f"/api/cases/{case_id}/close")
        assert closed.status == 200
        assert (await phone.session.get("/caller")).status in (401, 403)


async def test_cases_are_invisible_to_other_professionals_and_patients(live_server: Any) -> None:
    async with await _regulator(live_server) as regulator, await _regulator(live_server, "autre") as other:
        case_id = (await (await regulator.api("POST", "/api/cases", json=CASE)).json())["case"]["id"]
        for path in (f"/api/cases/{case_id}", f"/api/cases/{case_id}/timeline", f"/api/cases/{case_id}/captures",
                     f"/api/cases/{case_id}/export"):
            assert (await other.api("GET", path)).status == 404, path
        await make_user(live_server, "drhouse")
        async with Browser(live_server) as doctor:
            await doctor.login()
            consultation = await new_consultation(doctor)
            patient = await join_as_patient(live_server, consultation["link"]["url"])
            assert (await patient.api("GET", f"/api/cases/{case_id}")).status == 403
            assert (await doctor.api("POST", "/api/cases", json=CASE)).status == 403  # practitioners do not open cases
            await patient.session.close()
        bad = await regulator.api("POST", "/api/cases", json={"case_number": "", "caller_phone": "abc"})
        assert bad.status == 400


async def test_a_large_photo_arrives_whole_and_an_oversized_one_is_refused(live_server: Any) -> None:
    import os
    import re

    async with await _regulator(live_server) as regulator, Browser(live_server) as phone:
        body = await (await regulator.api("POST", "/api/cases", json=CASE)).json()
        await open_link(phone, body["link"]["url"])
        page = await (await phone.session.get("/caller")).text()
        phone.csrf = re.search(r'"csrf":\s*"([^"]+)"', page).group(1)  # type: ignore[union-attr]
        # Noise does not compress: a 1200x900 PNG of it is about 3 MiB, far more than one network read.
        noise = Image.frombytes("RGB", (1200, 900), os.urandom(1200 * 900 * 3))
        buffer = io.BytesIO()
        noise.save(buffer, format="PNG")
        assert buffer.tell() > 3_000_000
        sent = await phone.api("POST", "/api/caller/stills?source=photo", data=buffer.getvalue(),
                               headers={"Content-Type": "image/png"})
        assert sent.status == 201, await sent.text()
        oversized = await phone.api("POST", "/api/caller/stills?source=photo", data=b"\x89PNG" + b"0" * (9 << 20),
                                    headers={"Content-Type": "image/png"})
        assert oversized.status == 413
        assert (await phone.api("POST", "/api/caller/events", json={"kind": "consent", "detail": {}})).status == 200
