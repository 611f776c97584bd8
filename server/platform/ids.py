"""Identifier types and generators. Ids are 128-bit random hex: unguessable, so they never act as an oracle."""

from __future__ import annotations

import secrets
from typing import NewType

__all__ = ["UserId", "ConsultationId", "ParticipantId", "new_id"]

UserId = NewType("UserId", str)
ConsultationId = NewType("ConsultationId", str)
ParticipantId = NewType("ParticipantId", str)


def new_id() -> str:
    return secrets.token_hex(16)


def looks_like_id(value: object) -> bool:
    """True for a 32-character lowercase hex string (cheap shape check before any database lookup)."""
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)
