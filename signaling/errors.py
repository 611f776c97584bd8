"""Signaling errors; each carries the ``code`` sent back in the event acknowledgement.

    SignalingError
    ├── InvalidMessage   (code "invalid": wrong shape, type or size)
    ├── Denied           (code "forbidden")
    ├── WrongState       (code "conflict")
    └── RateLimited      (code "rate_limited")
"""

from __future__ import annotations

__all__ = ["SignalingError", "InvalidMessage", "Denied", "WrongState", "RateLimited"]


class SignalingError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidMessage(SignalingError):
    code = "invalid"


class Denied(SignalingError):
    code = "forbidden"


class WrongState(SignalingError):
    code = "conflict"


class RateLimited(SignalingError):
    code = "rate_limited"
