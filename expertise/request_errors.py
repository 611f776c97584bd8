"""Errors of second-opinion requests. Only ``server/`` turns them into HTTP or socket replies.

    RequestError
    ├── RequestNotFound      (also when the caller may not see the request: ids leak nothing)
    ├── RequestForbidden     (the caller is known to see it but may not do this, e.g. wrong profession)
    ├── InvalidTransition    (the lifecycle does not allow this move from the current state)
    ├── InvalidRequest       (malformed input; the message names the field)
    ├── BillingLimitReached  (the yearly cap on tele-expertise acts for this patient)
    ├── QuotaExceeded        (an upload quota: ``retry_after_s`` set for a rate, None for a total)
    └── IdempotencyKeyReused (an Idempotency-Key already used for a different file)
"""

from __future__ import annotations

__all__ = ["RequestError", "RequestNotFound", "RequestForbidden", "InvalidTransition", "InvalidRequest",
           "BillingLimitReached", "QuotaExceeded", "IdempotencyKeyReused"]


class RequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestNotFound(RequestError):
    pass


class RequestForbidden(RequestError):
    pass


class InvalidTransition(RequestError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a request cannot go from {current} to {target}")
        self.current = current
        self.target = target


class InvalidRequest(RequestError):
    pass


class BillingLimitReached(RequestError):
    pass


class QuotaExceeded(RequestError):
    """An upload quota is used up. ``retry_after_s``: seconds until a rate window frees room (None: a total,
    which waiting does not change)."""

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IdempotencyKeyReused(RequestError):
    pass
