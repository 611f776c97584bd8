"""Hostile uploads built in the tests (catalogue §4a 17–18), and a real server started with chosen settings."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def exif_gps_jpeg(size: tuple[int, int] = (64, 48), orientation: int = 1) -> bytes:
    """A JPEG whose EXIF says where it was taken (Lyon) and how to turn it."""
    image = Image.new("RGB", size, (180, 90, 60))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (45.0, 45.0, 36.0), 3: "E", 4: (4.0, 50.0, 24.0)})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, comment=b"taken at home")
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD), "the test image must carry GPS"
    return data


def plain_png(size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 140, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG that does not compress (random pixels): about 3 bytes a pixel once stored."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../payload.html", "<script>alert(document.cookie)</script>")
    return buffer.getvalue()


def jpeg_with_zip() -> bytes:
    return exif_gps_jpeg(size=(80, 60)) + zip_bytes()


def png_with_html() -> bytes:
    return plain_png() + b"<html><body><script>alert(document.cookie)</script></body></html>"


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"><rect width="9" height="9"/></svg>'


def png_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A PNG whose header announces ``width`` x ``height`` RGB pixels (10.8 GB decoded) in a few bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * (width * 3 + 1) * 4, 9)  # the first rows only: the header is what matters
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _pdf(build: Any) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    build(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_open_action_js() -> bytes:
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    def build(writer: Any) -> None:
        writer.root_object[NameObject("/OpenAction")] = DictionaryObject({
            NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})
    return _pdf(build)


def pdf_embedded_file() -> bytes:
    return _pdf(lambda writer: writer.add_attachment("invoice.exe", b"MZ\x90\x00 a program"))


def pdf_with_zip() -> bytes:
    return _pdf(lambda writer: None) + zip_bytes()


@asynccontextmanager
async def started_server(database_url: str, test_certs: Any, **overrides: Any) -> AsyncIterator[Any]:
    """A real HTTPS server like the ``live_server`` fixture, with settings overridden (e.g. ``uploads=``)."""
    from aiohttp import web

    from server.app import create_app
    from server.platform.clock import ManualClock
    from server.platform.tls import client_ssl_context, server_ssl_context
    from tests.conftest import LiveServer, free_port, make_settings

    port = free_port()
    settings = make_settings(database_url, port, **overrides)
    clock = ManualClock()
    app = create_app(settings, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port,
                      ssl_context=server_ssl_context(test_certs.server_cert, test_certs.server_key)).start()
    try:
        yield LiveServer(settings.public_url, app, settings, clock, client_ssl_context(test_certs.ca_cert))
    finally:
        await runner.cleanup()
