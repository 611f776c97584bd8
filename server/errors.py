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

__all__ = ["LucarneError", "NotFound", "Forbidden", "Conflict", "Invalid", "RateLimited", "Busy"]


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
