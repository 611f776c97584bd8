"""Attachments over real HTTPS: hostile files (catalogue §4a 17–18), quotas (§4a 19), retries and an upload cut
off half way (§4a 20). Every file is built in the test; nothing of our code is mocked."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from PIL import Image
from sqlalchemy import func, select

from expertise.request_models import RequestAttachment
from server.config import UploadSettings
from server.keys import accounts_key, db_key
from tests import hostile_files as hostile
from tests.expertise.requests_support import PDF_MIN, http_body, seed_professional
from tests.fakes import Browser

API = "/api/expertise/requests"
KIB = 1024


async def _gp_and_request(server: Any, requests: int = 1) -> tuple[Browser, list[str]]:
    sessions = server.app[db_key]
    await seed_professional(sessions, "10000000001", accepts=False)
    await seed_professional(sessions, "20000000001", accepts=True, capacity=5)
    await server.app[accounts_key].create("gpone", "correct horse battery", "Dr One", "practitioner",
                                          rpps="10000000001")
    gp = Browser(server)
    assert (await gp.login("gpone")).status == 303
    rids = []
    for _ in range(requests):
        created = await gp.api("POST", API, json=http_body())
        assert created.status == 201, await created.text()
        rids.append((await created.json())["id"])
    return gp, rids


async def _upload(gp: Browser, rid: str, data: bytes, name: str = "file", **headers: str) -> Any:
    return await gp.api("POST", f"{API}/{rid}/attachments?name={quote(name)}", data=data,
                        headers={"Content-Type": "application/octet-stream", **headers})


async def _rows(server: Any) -> int:
    async with server.app[db_key]() as session:
        return int(await session.scalar(select(func.count()).select_from(RequestAttachment)) or 0)


def _blob_files(server: Any) -> list[Path]:
    root = server.settings.data_dir / "expertise-blobs"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def _filename(disposition: str) -> tuple[str, str, str]:
    """(type, ASCII ``filename``, decoded ``filename*``) of an RFC 6266 header, which must have exactly that form."""
    match = re.fullmatch(r"""(inline|attachment); filename="([\x20-\x7e]*)"; filename\*=UTF-8''([A-Za-z0-9%._~-]+)""",
                         disposition)
    assert match, disposition
    assert not set(match[2]) & {'"', "\\"}
    return match[1], match[2], unquote(match[3])


async def test_hostile_files_are_refused_or_stored_clean(live_server: Any) -> None:
    gp, (rid,) = await _gp_and_request(live_server)
    async with gp:
        for data, name, words in ((hostile.SVG, "photo.jpg", "only JPEG, PNG and PDF"),
                                  (hostile.pdf_open_action_js(), "ecg.pdf", "active content (OpenAction)"),
                                  (hostile.pdf_embedded_file(), "ecg.pdf", "active content (EmbeddedFiles)"),
                                  (hostile.png_bomb(), "bomb.png", "not a readable PNG")):
            refused = await _upload(gp, rid, data, name, **{"Content-Type": "image/jpeg"})
            assert refused.status == 400 and words in (await refused.json())["message"], name
        assert await _rows(live_server) == 0 and _blob_files(live_server) == []

        stored: dict[str, bytes] = {}
        for label, data, kind in (("gps", hostile.exif_gps_jpeg(), "image/jpeg"),
                                  ("zip", hostile.jpeg_with_zip(), "image/jpeg"),
                                  ("html", hostile.png_with_html(), "image/png")):
            sent = await _upload(gp, rid, data, f"{label}.jpg")
            assert sent.status == 201, await sent.text()
            body = await sent.json()
            assert body["content_type"] == kind and body["name"] == f"{label}.{kind.split('/')[1]}".replace("jpeg", "jpg")
            download = await gp.api("GET", f"{API}/{rid}/attachments/{body['id']}")
            assert download.status == 200 and download.headers["Content-Type"] == kind
            assert download.headers["X-Content-Type-Options"] == "nosniff"
            assert _filename(download.headers["Content-Disposition"])[0] == "inline"
            stored[label] = await download.read()
        image = Image.open(io.BytesIO(stored["gps"]))
        assert not image.getexif() and b"Exif" not in stored["gps"] and image.size == (64, 48)
        assert b"PK\x03\x04" not in stored["zip"] and b"<script" not in stored["html"]

        # A NUL is refused at the edge for every field (server/web/inputs.py); the rest of a hostile name is cleaned.
        nul = await _upload(gp, rid, PDF_MIN, "ecg\x00.pdf")
        assert nul.status == 400 and "name" in (await nul.json())["message"]
        evil = '"; rm -rf /\u202egpj.exe' + "x" * 500 + ".pdf"
        pdf = await _upload(gp, rid, PDF_MIN, evil)
        assert pdf.status == 201
        download = await gp.api("GET", f"{API}/{rid}/attachments/{(await pdf.json())['id']}")
        assert download.headers["Content-Type"] == "application/pdf"
        disposition, fallback, utf8 = _filename(download.headers["Content-Disposition"])
        assert disposition == "attachment" and fallback.endswith(".pdf") and utf8.endswith(".pdf")
        for name in (fallback, utf8):
            assert not set(name) & {'"', "\u202e", "\x00", "/", ";"} and len(name) <= 110


def _quota_settings() -> UploadSettings:
    return UploadSettings(attachment_max_bytes=1024 * KIB, attachments_per_request=3, user_window_s=60,
                          user_uploads_per_window=3, user_bytes_per_window=1024 * KIB, user_bytes_max=1536 * KIB)


async def test_quotas_per_request_per_account_window_and_total(db: Any, database_url: str, test_certs: Any) -> None:
    async with hostile.started_server(database_url, test_certs, uploads=_quota_settings()) as server:
        gp, (first, second) = await _gp_and_request(server, requests=2)
        async with gp:
            async def send(rid: str, data: bytes) -> tuple[int, dict[str, Any], Any]:
                response = await _upload(gp, rid, data)
                return response.status, await response.json(), response.headers

            assert (await send(first, hostile.plain_png((10, 10))))[0] == 201
            assert (await send(first, hostile.plain_png((11, 10))))[0] == 201
            assert (await send(second, hostile.noise_png((480, 480))))[0] == 201  # about 690 KiB
            status, body, headers = await send(second, hostile.plain_png((12, 10)))  # a 4th file within a minute
            assert status == 429 and headers["Retry-After"] == "60" and "try again in 60 seconds" in body["message"]

            server.clock.advance(seconds=61)
            assert (await send(second, hostile.noise_png((481, 480))))[0] == 201
            status, body, headers = await send(second, hostile.noise_png((370, 370)))  # 1 MiB a minute, across requests
            assert status == 429 and "of files in the last 60 seconds" in body["message"] and "Retry-After" in headers

            server.clock.advance(seconds=61)
            assert (await send(first, hostile.plain_png((13, 10))))[0] == 201
            status, body, _ = await send(first, hostile.plain_png((14, 10)))
            assert status == 413 and body["message"] == "a request carries at most 3 attachments"
            status, body, _ = await send(second, hostile.noise_png((482, 480)))  # 1.3 MiB stored + 0.7 > 1.5 MiB
            assert status == 413 and "one account may store at most 1.5 MiB" in body["message"]
            status, body, _ = await send(second, b"\x89PNG\r\n\x1a\n" + b"0" * (1100 * KIB))
            assert status == 413 and body["message"] == "attachments are limited to 1 MiB each"
        assert await _rows(server) == 5 and len(_blob_files(server)) == 5


async def test_two_uploads_at_once_cannot_both_take_the_last_place(db: Any, database_url: str,
                                                                  test_certs: Any) -> None:
    uploads = UploadSettings(attachments_per_request=2)
    async with hostile.started_server(database_url, test_certs, uploads=uploads) as server:
        gp, (rid,) = await _gp_and_request(server)
        async with gp:
            assert (await _upload(gp, rid, hostile.plain_png((10, 10)))).status == 201
            racing = await asyncio.gather(*(_upload(gp, rid, hostile.noise_png((200 + i, 200))) for i in range(2)))
            assert sorted(response.status for response in racing) == [201, 413]
        assert await _rows(server) == 2 and len(_blob_files(server)) == 2  # the loser's blob was removed


async def _cut_off_upload(server: Any, gp: Browser, rid: str, data: bytes) -> None:
    """Send the headers and half the body, then close the connection (a phone losing its network)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(server.url.rsplit(":", 1)[1]),
                                                   ssl=server.client_ssl, server_hostname="localhost")
    head = (f"POST {API}/{rid}/attachments?name=cut.png HTTP/1.1\r\nHost: localhost\r\nOrigin: {server.url}\r\n"
            f"Cookie: {gp.cookie_header()}\r\nX-CSRF-Token: {gp.csrf}\r\nIdempotency-Key: upload-1\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n")
    writer.write(head.encode() + data[: len(data) // 2])
    await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
    del reader


async def test_an_upload_cut_off_then_retried_stores_one_attachment(live_server: Any,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    gp, (rid,) = await _gp_and_request(live_server)
    photo = hostile.noise_png((300, 300))
    async with gp:
        await _cut_off_upload(live_server, gp, rid, photo)
        await asyncio.sleep(0.3)  # the server sees the connection end
        assert await _rows(live_server) == 0 and _blob_files(live_server) == []
        assert not [r for r in caplog.records if r.levelname == "ERROR"]  # an expected end, not a server fault

        first = await _upload(gp, rid, photo, "photo.png", **{"Idempotency-Key": "upload-1"})
        assert first.status == 201
        attachment = await first.json()
        again = await _upload(gp, rid, photo, "photo.png", **{"Idempotency-Key": "upload-1"})
        assert again.status == 200 and await again.json() == attachment
        same_file = await _upload(gp, rid, photo, "photo (1).png")  # a retry without a key: the same file
        assert same_file.status == 200 and (await same_file.json())["id"] == attachment["id"]
        other = await _upload(gp, rid, hostile.plain_png(), "other.png", **{"Idempotency-Key": "upload-1"})
        assert other.status == 422 and "already used for another file" in (await other.json())["message"]
        listed = (await (await gp.api("GET", f"{API}/{rid}")).json())["attachments"]
        assert [a["id"] for a in listed] == [attachment["id"]]
    assert await _rows(live_server) == 1 and len(_blob_files(live_server)) == 1
    assert not [p for p in live_server.settings.data_dir.rglob("*.tmp")]
