"""Attachment checks: the type comes from the content (magic bytes, then a real decode), never from the name.

JPEG and PNG are opened with Pillow (bounded pixel count, fully decoded); a PDF must start with ``%PDF-1.x`` or
``%PDF-2.x`` and end with ``%%EOF`` (a truncated upload fails). Sizes are capped per file and per request.
"""

from __future__ import annotations

import io
import re

from PIL import Image, UnidentifiedImageError

from .request_errors import InvalidRequest

__all__ = ["MAX_ATTACHMENT_BYTES", "MAX_ATTACHMENTS", "MAX_PIXELS", "sniff_attachment", "clean_name"]

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 10
MAX_PIXELS = 40_000_000
_PDF_HEADER = re.compile(rb"^%PDF-[12]\.\d")
_NAME = re.compile(r"[^\w.\- ]+")


def sniff_attachment(data: bytes) -> str:
    """The content type of a valid JPEG, PNG or PDF; raise :class:`InvalidRequest` for anything else."""
    if not data:
        raise InvalidRequest("the attachment is empty")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidRequest(f"attachments are limited to {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB")
    if data.startswith(b"\xff\xd8\xff"):
        return _image(data, "JPEG", "image/jpeg")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _image(data, "PNG", "image/png")
    if _PDF_HEADER.match(data):
        if b"%%EOF" not in data[-1024:]:
            raise InvalidRequest("the PDF is truncated (no %%EOF marker at its end)")
        return "application/pdf"
    raise InvalidRequest("only JPEG, PNG and PDF files are accepted (checked on the content, not the name)")


def _image(data: bytes, expected: str, content_type: str) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != expected:
                raise InvalidRequest(f"the file starts like a {expected} but is not one")
            if image.width * image.height > MAX_PIXELS:
                raise InvalidRequest("the image has too many pixels")
            image.load()  # a full decode: a truncated or corrupt image fails here
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise InvalidRequest(f"not a readable {expected} image") from exc
    return content_type


def clean_name(name: str) -> str:
    """A display name for the file: no path, no control or markup characters, bounded length."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _NAME.sub("_", base).strip(" .")[:120] or "attachment"
