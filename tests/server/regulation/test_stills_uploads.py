"""The caller's stills (POST /api/caller/stills) over real HTTPS: typed by content, re-encoded, held to the case's
quotas (catalogue §4a 17, 19). Every file is built in the test."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from server.config import UploadSettings
from server.keys import db_key
from server.platform.models import Capture
from tests import hostile_files as hostile
from tests.fakes import Browser, make_user, open_link

CASE = {"case_number": "SAMU69-0002", "caller_phone": "+33 6 00 00 00 02", "reason": "Chute"}


async def _case_with_caller(server: Any) -> tuple[Browser, Browser, str]:
    await make_user(server, "regulateur", role="regulator")
    regulator, phone = Browser(server), Browser(server)
    assert (await regulator.login("regulateur")).status == 303
    body = await (await regulator.api("POST", "/api/cases", json=CASE)).json()
    await open_link(phone, body["link"]["url"])
    page = await (await phone.session.get("/caller")).text()
    phone.csrf = re.search(r'"csrf":\s*"([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return regulator, phone, body["case"]["id"]


async def _send(phone: Browser, data: bytes, declared: str = "application/octet-stream") -> Any:
    return await phone.api("POST", "/api/caller/stills?source=still", data=data, headers={"Content-Type": declared})


async def _captures(server: Any) -> int:
    async with server.app[db_key]() as session:
        return int(await session.scalar(select(func.count()).select_from(Capture)) or 0)


async def test_stills_are_typed_by_content_and_stored_clean(live_server: Any) -> None:
    regulator, phone, case_id = await _case_with_caller(live_server)
    async with regulator, phone:
        for data, declared, words in ((hostile.SVG, "image/jpeg", "only JPEG and PNG"),
                                      (hostile.png_bomb(), "image/png", "not a readable JPEG or PNG"),
                                      (hostile.png_bomb(6000, 6000), "image/png", "too many pixels")):
            refused = await _send(phone, data, declared)
            assert refused.status == 400 and words in (await refused.json())["message"]
        assert await _captures(live_server) == 0
        for data in (hostile.exif_gps_jpeg(orientation=6), hostile.png_with_html(), hostile.jpeg_with_zip()):
            assert (await _send(phone, data)).status == 201  # the declared type does not matter, the bytes do
        captures = (await (await regulator.api("GET", f"/api/cases/{case_id}/captures")).json())["captures"]
        stored = []
        for capture in captures:
            image = await regulator.api("GET", f"/api/cases/{case_id}/captures/{capture['id']}.jpg")
            assert image.headers["Content-Type"] == "image/jpeg"
            assert image.headers["X-Content-Type-Options"] == "nosniff"
            stored.append(await image.read())
        assert all(b"Exif" not in data and b"PK\x03\x04" not in data and b"<script" not in data for data in stored)
        assert Image.open(io.BytesIO(stored[0])).size == (48, 64)  # upright, as the phone was held


async def test_a_case_takes_a_bounded_number_of_stills(db: Any, database_url: str, test_certs: Any) -> None:
    uploads = UploadSettings(stills_per_window=3, still_window_s=60, stills_per_case=5, still_max_bytes=512 * 1024)
    async with hostile.started_server(database_url, test_certs, uploads=uploads) as server:
        regulator, phone, _ = await _case_with_caller(server)
        async with regulator, phone:
            for width in (10, 11, 12):
                assert (await _send(phone, hostile.plain_png((width, 10)))).status == 201
            flood = await _send(phone, hostile.plain_png((13, 10)))
            assert flood.status == 429 and flood.headers["Retry-After"] == "60"
            assert "the next one can be sent in 60 seconds" in (await flood.json())["message"]
            server.clock.advance(seconds=61)
            too_big = await _send(phone, b"\xff\xd8\xff" + b"0" * (600 * 1024))
            assert too_big.status == 413 and (await too_big.json())["message"] == "images are limited to 512 KiB each"
            for width in (14, 15):
                assert (await _send(phone, hostile.plain_png((width, 10)))).status == 201
            full = await _send(phone, hostile.plain_png((16, 10)))
            assert full.status == 413 and "the most one case may hold" in (await full.json())["message"]
        assert await _captures(server) == 5


async def test_two_stills_at_once_cannot_both_take_the_last_place(db: Any, database_url: str, test_certs: Any) -> None:
    async with hostile.started_server(database_url, test_certs, uploads=UploadSettings(stills_per_case=2)) as server:
        regulator, phone, _ = await _case_with_caller(server)
        async with regulator, phone:
            assert (await _send(phone, hostile.plain_png((10, 10)))).status == 201
            racing = await asyncio.gather(*(_send(phone, hostile.noise_png((200 + i, 200))) for i in range(2)))
            assert sorted(response.status for response in racing) == [201, 413]
        assert await _captures(server) == 2
        blobs = [p for p in (server.settings.data_dir / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == 2  # the refused still's blob was removed
