"""Upload quotas for attachments, counted from the stored rows (durable, shared by every process).

Per request: a number of files and a total size. Per account: a sliding window (files and bytes in the last
``window_s`` seconds, answered with the wait until the oldest upload leaves the window) and a total stored size.
The check runs twice: before the blob is written (a refused upload costs no disk) and again in the transaction
that inserts the row, behind the request's row lock and, on PostgreSQL, an advisory lock on the account, so two
uploads at the same instant cannot both take the last place.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from .request_errors import QuotaExceeded
from .request_models import RequestAttachment

__all__ = ["AttachmentLimits", "check_quota", "lock_uploader"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class AttachmentLimits:
    max_bytes: int = 10 * _MIB
    max_pixels: int = 40_000_000
    per_request: int = 10
    bytes_per_request: int = 40 * _MIB
    window_s: int = 60
    per_window: int = 10
    bytes_per_window: int = 25 * _MIB
    bytes_per_user: int = 2048 * _MIB


def _mib(size: int) -> str:
    if size < _MIB:
        return f"{size // 1024} KiB"
    return f"{size / _MIB:.1f}".removesuffix(".0") + " MiB"


async def check_quota(session: AsyncSession, limits: AttachmentLimits, uploader: str, rid: str, size: int,
                      now: datetime) -> None:
    """Raise :class:`QuotaExceeded` when one more file of ``size`` bytes would break a quota."""
    if size > limits.max_bytes:
        raise QuotaExceeded(f"attachments are limited to {_mib(limits.max_bytes)} each")
    await _per_request(session, limits, rid, size)
    await _per_window(session, limits, uploader, size, now)
    stored = await session.scalar(select(func.coalesce(func.sum(RequestAttachment.size), 0))
                                  .where(RequestAttachment.uploader == uploader))
    if (stored or 0) + size > limits.bytes_per_user:
        raise QuotaExceeded(f"your attachments already take {_mib(stored or 0)}; one account may store at most "
                            f"{_mib(limits.bytes_per_user)}")


async def _per_request(session: AsyncSession, limits: AttachmentLimits, rid: str, size: int) -> None:
    count, total = (await session.execute(
        select(func.count(), func.coalesce(func.sum(RequestAttachment.size), 0))
        .where(RequestAttachment.request_id == rid))).one()
    if count >= limits.per_request:
        raise QuotaExceeded(f"a request carries at most {limits.per_request} attachments")
    if total + size > limits.bytes_per_request:
        raise QuotaExceeded(f"the attachments of one request are limited to {_mib(limits.bytes_per_request)} "
                            f"in all ({_mib(total)} already attached)")


async def _per_window(session: AsyncSession, limits: AttachmentLimits, uploader: str, size: int,
                      now: datetime) -> None:
    since = now - timedelta(seconds=limits.window_s)
    count, total, oldest = (await session.execute(
        select(func.count(), func.coalesce(func.sum(RequestAttachment.size), 0), func.min(RequestAttachment.at))
        .where(RequestAttachment.uploader == uploader, RequestAttachment.at > since))).one()
    if count < limits.per_window and total + size <= limits.bytes_per_window:
        return
    if size > limits.bytes_per_window:  # waiting would never make room for it
        raise QuotaExceeded(f"one file may not exceed {_mib(limits.bytes_per_window)}")
    wait = max(1, math.ceil((oldest + timedelta(seconds=limits.window_s) - now).total_seconds())) if oldest else 1
    what = (f"{count} files" if count >= limits.per_window else f"{_mib(total)} of files")
    raise QuotaExceeded(f"you sent {what} in the last {limits.window_s} seconds, the most allowed; "
                        f"try again in {wait} seconds", retry_after_s=wait)


async def lock_uploader(session: AsyncSession, uploader: str) -> None:
    """Serialise one account's uploads across processes (PostgreSQL; SQLite already has one writer)."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"upload:{uploader}".encode()).digest()[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
