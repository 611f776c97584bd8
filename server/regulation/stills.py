"""Still images of a regulation case (the caller's photos and periodic stills, frames captured from the live
video): content checks, re-encoding, and per-case quotas counted from the stored captures.

The type comes from the bytes (a real JPEG or PNG, fully decoded under a pixel bound; a decompression bomb is
refused from its header), never from the declared ``Content-Type``. What is stored is a fresh JPEG: upright
(EXIF orientation applied), without any metadata (EXIF GPS, comments, ICC) and without anything appended after
the image. Quotas: per case, a number of stills and a total size (413); per case and sender, a sliding window of
stills (429 with the wait until the oldest leaves it).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import UploadSettings
from ..platform.errors import Invalid, UploadQuotaExceeded, human_size
from ..platform.models import Capture, RegulationCase

__all__ = ["StillLimits", "clean_still", "check_still_quota", "lock_case"]

_MIB = 1024 * 1024
_IMAGE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
                 Image.DecompressionBombWarning)


@dataclass(frozen=True)
class StillLimits:
    max_bytes: int = 8 * _MIB
    max_pixels: int = 24_000_000
    per_case: int = 500
    bytes_per_case: int = 400 * _MIB
    window_s: int = 60
    per_window: int = 20

    @classmethod
    def from_settings(cls, uploads: UploadSettings) -> StillLimits:
        return cls(max_bytes=uploads.still_max_bytes, per_case=uploads.stills_per_case,
                   bytes_per_case=uploads.still_bytes_per_case, window_s=uploads.still_window_s,
                   per_window=uploads.stills_per_window)


def clean_still(data: bytes, limits: StillLimits) -> tuple[bytes, int, int]:
    """Check the bytes are a real JPEG/PNG of bounded size; re-encode as JPEG without metadata. CPU-bound."""
    if len(data) > limits.max_bytes:
        raise UploadQuotaExceeded(f"images are limited to {human_size(limits.max_bytes)} each")
    if not data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
        raise Invalid("only JPEG and PNG images are accepted (checked on the content, not the declared type)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG"):
                raise Invalid("only JPEG and PNG images are accepted")
            if image.width * image.height > limits.max_pixels:
                raise Invalid(f"the image has too many pixels (at most {limits.max_pixels // 1_000_000} million)")
            image.load()
            clean = ImageOps.exif_transpose(image).convert("RGB")
    except _IMAGE_ERRORS as exc:
        raise Invalid("not a readable JPEG or PNG image") from exc
    clean.info = {}
    buffer = io.BytesIO()
    clean.save(buffer, format="JPEG", quality=90)  # a fresh encode carries no EXIF (GPS) or other metadata
    return buffer.getvalue(), clean.width, clean.height


async def check_still_quota(session: AsyncSession, limits: StillLimits, case_id: str, capturer: str, size: int,
                            now: datetime) -> None:
    """Raise :class:`UploadQuotaExceeded` when one more still of ``size`` bytes would break a quota."""
    count, total = (await session.execute(select(func.count(), func.coalesce(func.sum(Capture.size), 0))
                                          .where(Capture.case_id == case_id))).one()
    if count >= limits.per_case:
        raise UploadQuotaExceeded(f"this case already holds {count} images, the most one case may hold")
    if total + size > limits.bytes_per_case:
        raise UploadQuotaExceeded(f"the images of one case are limited to {human_size(limits.bytes_per_case)}")
    since = now - timedelta(seconds=limits.window_s)
    recent, oldest = (await session.execute(select(func.count(), func.min(Capture.at)).where(
        Capture.case_id == case_id, Capture.capturer == capturer[:64], Capture.at > since))).one()
    if recent >= limits.per_window:
        wait = max(1, math.ceil((oldest + timedelta(seconds=limits.window_s) - now).total_seconds()))
        raise UploadQuotaExceeded(f"{recent} images were sent in the last {limits.window_s} seconds, the most "
                                  f"allowed; the next one can be sent in {wait} seconds", retry_after_s=wait)


async def lock_case(session: AsyncSession, case_id: str) -> None:
    """A no-op UPDATE: the row lock on PostgreSQL, the write lock on SQLite, so two stills of one case never
    both take its last place."""
    await session.execute(update(RegulationCase).where(RegulationCase.id == case_id)
                          .values(status=RegulationCase.status))
