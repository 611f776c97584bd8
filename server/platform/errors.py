"""Domain errors of the care records. Only the HTTP and socket layers translate them into replies.

    LucarneError
    ├── NotFound          (also used when access is denied to something the caller may not know exists)
    ├── Forbidden
    ├── Conflict          (a lifecycle transition that is not allowed from the current state)
    ├── Invalid           (malformed input; the message says which field)
    ├── RateLimited       (429; ``retry_after_s`` becomes a Retry-After header when set)
    └── Busy              (503: the server as a whole is at capacity; Retry-After too)
"""

from __future__ import annotations

__all__ = ["LucarneError", "NotFound", "Forbidden", "Conflict", "Invalid", "RateLimited", "Busy", "human_size",
    "UploadQuotaExceeded"]


class LucarneError(Exception):
    code = "error"
    status = 500

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class NotFound(LucarneError):
    code, status = "not_found", 404


class Forbidden(LucarneError):
    code, status = "forbidden", 403


class Conflict(LucarneError):
    code, status = "conflict", 409


class Invalid(LucarneError):
    code, status = "invalid", 400


class RateLimited(LucarneError):
    code, status = "rate_limited", 429


class Busy(LucarneError):
    code, status = "busy", 503


_MIB = 1024 * 1024


def human_size(size: int) -> str:
    """``512 KiB``, ``8 MiB``, ``1.5 MiB``: a limit as a user reads it."""
    if size < _MIB:
        return f"{size // 1024} KiB"
    return f"{size / _MIB:.1f}".removesuffix(".0") + " MiB"


class UploadQuotaExceeded(LucarneError):
    """An upload quota is used up: 429 with ``retry_after_s`` for a rate, 413 for a total."""

    code = "quota"

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = 429 if retry_after_s is not None else 413
