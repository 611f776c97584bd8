"""HTTP for uploaded files: reading an upload, answering its refusals, and serving a stored file.

Refusals are JSON ``{"error", "message"}`` like every API error, with the status that tells the client what to do:
413 (too large, or a total quota: waiting will not help), 429 with ``Retry-After`` (a rate: wait that long),
422 (an Idempotency-Key reused for another file), 507 (the server's storage is full: nothing was saved), 503
(storage failed otherwise). A stored file is served with its real type, ``X-Content-Type-Options: nosniff``, a
sandboxing CSP, and an RFC 6266 ``Content-Disposition`` (``attachment`` unless it is an image) whose file name is
sanitised (no quotes, control or bidi characters, bounded length) with a UTF-8 ``filename*``.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import ClientPayloadError, web

from expertise import EXTENSIONS, IdempotencyKeyReused, QuotaExceeded, clean_name

from ..platform.blobs import StorageFull, StorageUnavailable
from ..platform.errors import Invalid, UploadQuotaExceeded, human_size
from .httputil import read_body

__all__ = ["upload_errors", "read_upload", "idempotency_key", "file_response", "content_disposition"]

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._\- ]+")
_FILE_CSP = "default-src 'none'; sandbox"
STORAGE_FULL = ("The server has no room left to store files. Nothing was saved: try again later, and tell "
                "the support team if it lasts.")
STORAGE_DOWN = "The server could not store the file. Nothing was saved: try again in a moment."


def _refusal(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status, headers=headers)


def upload_errors(handler: Handler) -> Handler:
    """Turn quota, idempotency and storage failures of an upload route into their answers (with Retry-After)."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (QuotaExceeded, UploadQuotaExceeded) as exc:
            logger.info("upload refused on %s: quota", request.path)
            if exc.retry_after_s is None:
                return _refusal(413, "too_large", exc.message)
            return _refusal(429, "rate_limited", exc.message, {"Retry-After": str(exc.retry_after_s)})
        except IdempotencyKeyReused as exc:
            return _refusal(422, "idempotency_key_reused", exc.message)
        except StorageFull:
            logger.error("upload refused on %s: blob storage is full", request.path)
            return _refusal(507, "storage_full", STORAGE_FULL)
        except StorageUnavailable:
            logger.exception("upload failed on %s: blob storage write failed", request.path)
            return _refusal(503, "storage_unavailable", STORAGE_DOWN, {"Retry-After": "30"})

    return run


async def read_upload(request: web.Request, limit: int, what: str) -> bytes:
    """The whole body, or a 413 that says the limit in words. A client that goes away mid-body (its network
    dropped) gets a 400 nobody reads, and nothing is stored: the file is written only once it is whole."""
    try:
        return await read_body(request, limit)
    except web.HTTPRequestEntityTooLarge as exc:
        raise UploadQuotaExceeded(f"{what} are limited to {human_size(limit)} each") from exc
    except (ConnectionResetError, ClientPayloadError) as exc:
        logger.info("upload cut off on %s after part of its body", request.path)
        raise Invalid("the upload stopped before its end: nothing was saved, send it again") from exc


def idempotency_key(request: web.Request) -> str | None:
    """The client's ``Idempotency-Key`` (printable ASCII, at most 200 characters), if it sent one."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY.match(key):
        raise Invalid("the Idempotency-Key header must be 1 to 200 printable ASCII characters")
    return key


def content_disposition(disposition: str, name: str, extension: str) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''percent-encoded`` (RFC 6266 / RFC 8187)."""
    clean = clean_name(name, extension)
    fallback = _ASCII_UNSAFE.sub("_", unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode())
    fallback = fallback.strip(" ._")
    if not fallback.lower().endswith(f".{extension}") or fallback == f".{extension}":
        fallback = f"attachment.{extension}"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


def file_response(data: bytes, content_type: str, name: str) -> web.Response:
    disposition = "inline" if content_type.startswith("image/") else "attachment"
    return web.Response(body=data, content_type=content_type, headers={
        "Content-Disposition": content_disposition(disposition, name, EXTENSIONS[content_type]),
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": _FILE_CSP,
        "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-store"})
