"""What the request service needs from its host, as Protocols (``server/`` supplies the implementations)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["CandidateLike", "DirectoryPort", "SealerPort", "BlobPort", "AuditPort", "NotifierPort", "ClockPort",
           "Actor", "Notice", "SYSTEM"]


class CandidateLike(Protocol):
    """A professional the directory proposes (``expertise.Candidate`` has this shape)."""

    @property
    def rpps(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def proximity(self) -> int: ...  # 0 same commune … 4 national
    @property
    def capacity(self) -> int: ...
    @property
    def languages(self) -> tuple[str, ...]: ...


class DirectoryPort(Protocol):
    async def candidates(self, specialty: str, commune: str | None, at: datetime, *, language: str | None = None,
                         exclude: Collection[str] = (), limit: int = 50) -> list[Any]:
        """Available professionals accepting tele-expertise in ``specialty``, nearest first."""
        ...


class SealerPort(Protocol):
    def seal_text(self, text: str, context: str) -> bytes: ...
    def open_text(self, sealed: bytes, context: str) -> str: ...


class BlobPort(Protocol):
    async def put(self, blob_id: str, data: bytes) -> None: ...
    async def get(self, blob_id: str) -> bytes: ...
    async def delete(self, blob_id: str) -> None: ...


class AuditPort(Protocol):
    async def record(self, actor: str, role: str, action: str, obj: str, result: str) -> None:
        """Append one entry to the audit log."""
        ...


class NotifierPort(Protocol):
    async def notify(self, notice: Notice) -> None:
        """Deliver a realtime notice; failures must not raise (the database is the source of truth)."""
        ...


class ClockPort(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Actor:
    """Who acts: an account (``user_id``), its role, and its directory identity when linked (``rpps``).

    ``profession`` comes from the directory when known (``medecin``, ``sage_femme``, ``infirmier``…)."""

    user_id: str
    role: str
    rpps: str | None = None
    profession: str | None = None

    @property
    def label(self) -> str:
        return self.user_id


SYSTEM = Actor(user_id="system:deadlines", role="system")


@dataclass(frozen=True)
class Notice:
    """A realtime notice to one account (``user_id``) or to whoever holds an RPPS number (``rpps``)."""

    event: str
    request_id: str
    status: str
    user_id: str | None = None
    rpps: str | None = None
