"""Attachment checks: the type comes from the content (magic bytes, then a real decode), never from the name or the
declared type, and what is stored is a clean copy, never the bytes as sent.

JPEG and PNG are decoded with Pillow under a pixel bound (a decompression bomb is refused from its header, before
any pixel is decoded), turned upright from their EXIF orientation and re-encoded: the stored image carries no
metadata (EXIF GPS, comments, text chunks) and nothing appended after it (JPEG+ZIP, PNG+HTML polyglots lose their
second part). A PDF must start with ``%PDF-1.x`` / ``%PDF-2.x`` and end with ``%%EOF`` (a truncated upload
fails), then goes through :func:`expertise.pdf_check.clean_pdf` (active content refused, document rewritten).
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from .pdf_check import clean_pdf
from .request_errors import InvalidRequest

__all__ = ["MAX_ATTACHMENT_BYTES", "MAX_ATTACHMENTS", "MAX_PIXELS", "CleanFile", "sanitise_attachment",
           "sniff_attachment", "clean_name", "EXTENSIONS"]

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 10
MAX_PIXELS = 40_000_000
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
_PDF_HEADER = re.compile(rb"^%PDF-[12]\.\d")
_NAME = re.compile(r"[^\w.\- ]+")
_IMAGE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
                 Image.DecompressionBombWarning)


@dataclass(frozen=True)
class CleanFile:
    """What is stored: the re-encoded or rewritten bytes, their type (from the content) and their SHA-256."""

    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def sanitise_attachment(data: bytes, max_bytes: int = MAX_ATTACHMENT_BYTES, max_pixels: int = MAX_PIXELS) -> CleanFile:
    """A clean copy of a valid JPEG, PNG or PDF; raise :class:`InvalidRequest` for anything else. CPU-bound:
    call it off the event loop."""
    content_type = sniff_attachment(data, max_bytes)
    if content_type == "application/pdf":
        return CleanFile(content_type, clean_pdf(data))
    return CleanFile(content_type, _reencode(data, "JPEG" if content_type == "image/jpeg" else "PNG", max_pixels))


def sniff_attachment(data: bytes, max_bytes: int = MAX_ATTACHMENT_BYTES) -> str:
    """The content type announced by the bytes themselves (JPEG, PNG or PDF), or :class:`InvalidRequest`."""
    if not data:
        raise InvalidRequest("the attachment is empty")
    if len(data) > max_bytes:
        raise InvalidRequest(f"attachments are limited to {max_bytes // (1024 * 1024)} MiB")
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if _PDF_HEADER.match(data):
        if b"%%EOF" not in data[-1024:]:
            raise InvalidRequest("the PDF is truncated (no %%EOF marker at its end)")
        return "application/pdf"
    raise InvalidRequest("only JPEG, PNG and PDF files are accepted (checked on the content, not the name)")


def _reencode(data: bytes, expected: str, max_pixels: int) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != expected:
                raise InvalidRequest(f"the file starts like a {expected} but is not one")
            if image.width * image.height > max_pixels:
                raise InvalidRequest(f"the image has too many pixels (at most {max_pixels // 1_000_000} million)")
            image.load()  # a full decode: a truncated or corrupt image fails here
            upright = ImageOps.exif_transpose(image)
    except _IMAGE_ERRORS as exc:
        raise InvalidRequest(f"not a readable {expected} image") from exc
    upright.info = {}  # Pillow copies some metadata (comments, ICC profile) from ``info`` when saving
    if expected == "JPEG" and upright.mode not in ("L", "RGB", "CMYK"):
        upright = upright.convert("RGB")
    buffer = io.BytesIO()
    upright.save(buffer, format=expected, **({"quality": 92} if expected == "JPEG" else {}))
    return buffer.getvalue()


def clean_name(name: str, extension: str | None = None) -> str:
    """A display name for the file: no path, no control, bidi or markup characters, bounded length; with
    ``extension`` its suffix is the one of its real type (``scan.exe`` holding a PDF becomes ``scan.pdf``)."""
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _NAME.sub("_", base).strip(" ._")
    if extension is None:
        return base[:120] or "attachment"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem[:100].strip(' ._') or 'attachment'}.{extension}"
