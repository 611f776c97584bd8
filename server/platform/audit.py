"""Append-only, hash-chained audit log of every access to health data, every login and every denial.

Each entry's ``entry_hash`` is SHA-256 over the previous entry's hash (``GENESIS`` for the first) followed by a
canonical JSON of the entry itself (sequence number, UTC time, actor, role, action, object, result, remote; from
chain version 2 also the version and the actor's RPPS). Entries written before version 2 keep their version 1
hash, so :func:`verify` checks old and new entries alike; a changed version breaks the hash too.
Changing an entry therefore breaks its own hash, and re-computing that hash breaks the link from the next entry;
deleting an entry leaves a gap in the contiguous sequence numbers. :func:`verify` reports all three.

The application never updates or deletes audit rows: :class:`AuditLog` only inserts. Deleting the *newest* entries
leaves a shorter chain that is still valid, and the chain is not keyed, so someone with write access to the
database could also rebuild it entirely. Both are detected only against a head hash exported earlier and kept
elsewhere: ``lucarne audit verify --expect-head HASH`` (``verify(..., expected_head=HASH)``) reports the log as
truncated when that hash is no longer in the chain. Operators should export the head regularly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from .clock import Clock
from .db import SessionFactory
from .models import AuditEntry

__all__ = [
    "GENESIS",
    "AuditContext",
    "AuditEvent",
    "AuditRecord",
    "AuditLog",
    "VerifyReport",
    "entry_hash",
    "verify",
    "format_report",
]

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
"""The ``prev_hash`` of entry 1, and the head hash of an empty log."""

_MAX_ATTEMPTS = 10
_SQLITE_WRITE_FIRST = text("UPDATE audit_entries SET seq = seq WHERE 0")
_PAGE_SIZE = 1000
# Column sizes from server.platform.models.AuditEntry: longer values are cut to fit (an entry is never lost to its
# size).
_LIMITS = {"actor": 64, "role": 20, "action": 60, "object": 120, "result": 20, "remote": 64, "rpps": 20}
_FIELDS = ("actor", "role", "action", "object", "result", "remote")
CHAIN_VERSION = 2
"""Version of the hashed payload written now: 2 adds ``v`` and ``rpps`` to version 1's fields."""
# One advisory lock key ("LUCA") serialises audit writers across all PostgreSQL connections and processes.
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(
    bindparam("key", 0x4C554341, type_=BigInteger))
_COLUMNS = (AuditEntry.seq, AuditEntry.at, AuditEntry.actor, AuditEntry.role, AuditEntry.action,
            AuditEntry.object, AuditEntry.result, AuditEntry.remote, AuditEntry.rpps, AuditEntry.version,
            AuditEntry.prev_hash, AuditEntry.entry_hash)


def _fit(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters; a cut value ends with "…" so a reader knows it was longer."""
    return value if len(value) <= limit else value[:limit - 1] + "…"


@dataclass(frozen=True)
class AuditContext:
    """Who is acting and from where, built once per request (or socket) and bound to the :class:`AuditLog`.

    ``remote`` is the client address the server saw (the TCP peer): forwarded headers are not trusted."""

    actor: str = "anonymous"
    role: str = ""
    rpps: str = ""
    remote: str = ""


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it gets a sequence number and a time: ``result`` is e.g. "ok", "denied", "failed".

    Every field is cut to its column size (user input such as a login name can be longer)."""

    actor: str
    role: str
    action: str
    object: str
    result: str
    remote: str = ""
    rpps: str = ""

    def __post_init__(self) -> None:
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"audit {name} must be text")
            object.__setattr__(self, name, _fit(value, limit))

    def within(self, context: AuditContext | None) -> AuditEvent:
        """This event with the client address, and its actor's RPPS and role, taken from ``context`` when missing."""
        if context is None:
            return self
        same = self.actor == context.actor
        return replace(self, remote=self.remote or context.remote, rpps=self.rpps or (context.rpps if same else ""),
                       role=self.role or (context.role if same else ""))


@dataclass(frozen=True)
class AuditRecord:
    """One stored audit entry, detached from the database session."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    object: str
    result: str
    remote: str
    rpps: str
    version: int
    prev_hash: str
    entry_hash: str


def _utc_iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _digest(prev_hash: str, seq: int, at: datetime, fields: Mapping[str, str], version: int = CHAIN_VERSION) -> str:
    payload: dict[str, object] = {"seq": seq, "at": _utc_iso(at), **{name: fields[name] for name in _FIELDS}}
    if version >= 2:
        payload |= {"v": version, "rpps": fields["rpps"]}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def entry_hash(prev_hash: str, seq: int, at: datetime, event: AuditEvent, version: int = CHAIN_VERSION) -> str:
    """SHA-256 hex of ``prev_hash`` + canonical JSON of the entry (``at`` as ISO 8601 UTC with microseconds)."""
    return _digest(prev_hash, seq, at, {name: getattr(event, name) for name in (*_FIELDS, "rpps")}, version)


class AuditLog:
    """Appends audit entries; safe with concurrent writers in this process and in other processes.

    :meth:`bound` sets the :class:`AuditContext` of the request (or socket event) being served: every entry
    recorded meanwhile, however deep the call that records it, carries its client address and actor's RPPS."""

    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._lock = asyncio.Lock()
        # Per asyncio task (each request runs in its own), so concurrent requests never see each other's context.
        self._context: ContextVar[AuditContext | None] = ContextVar(f"audit-context-{id(self)}", default=None)

    @contextmanager
    def bound(self, context: AuditContext) -> Iterator[AuditContext]:
        """Record entries within ``context`` until the block ends."""
        token = self._context.set(context)
        try:
            yield context
        finally:
            self._context.reset(token)

    @property
    def context(self) -> AuditContext | None:
        """The context bound for the current request, if any."""
        return self._context.get()

    async def record(self, event: AuditEvent) -> int:
        """Append ``event`` in its own transaction and return its sequence number."""
        event = event.within(self._context.get())
        async with self._lock:
            for attempt in range(1, _MAX_ATTEMPTS):
                try:
                    return await self._append(event)
                except (IntegrityError, OperationalError) as exc:
                    if isinstance(exc, OperationalError) and "locked" not in str(exc):
                        raise
                    # Only the seq primary key can clash: another process (SQLite has no advisory lock) took the
                    # same number between our read and our insert — or, on SQLite, two writers tried to upgrade
                    # their read locks at once and one was told "database is locked". Jitter, then retry.
                    logger.debug("audit append conflicted (attempt %d), retrying", attempt)
                    await asyncio.sleep(random.uniform(0, 0.01 * attempt))
            return await self._append(event)

    async def _append(self, event: AuditEvent) -> int:
        async with self._sessions.begin() as session:
            dialect = (await session.connection()).dialect.name
            if dialect == "postgresql":
                await session.execute(_PG_LOCK)
            elif dialect == "sqlite":
                # Write first: the transaction takes SQLite's write lock now (waiting up to busy_timeout for other
                # processes) instead of upgrading a read lock after the SELECT, which SQLite refuses at once with
                # "database is locked" when two writers try it together.
                await session.execute(_SQLITE_WRITE_FIRST)
            last = (await session.execute(
                select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1))).first()
            seq, prev = (last.seq + 1, last.entry_hash) if last else (1, GENESIS)
            at = self._clock.now()
            digest = entry_hash(prev, seq, at, event)
            session.add(AuditEntry(seq=seq, at=at.astimezone(UTC), actor=event.actor, role=event.role,
                                   action=event.action, object=event.object, result=event.result,
                                   remote=event.remote, rpps=event.rpps, version=CHAIN_VERSION, prev_hash=prev,
                                   entry_hash=digest))
        return seq

    async def entries(self, *, object_prefix: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """The newest ``limit`` entries, newest first, optionally only those whose object starts with a prefix."""
        if limit < 1:
            raise ValueError("limit must be positive")
        query = select(*_COLUMNS).order_by(AuditEntry.seq.desc()).limit(limit)
        if object_prefix:
            query = query.where(AuditEntry.object.startswith(object_prefix, autoescape=True))
        async with self._sessions() as session:
            return [_record(row) for row in await session.execute(query)]


def _record(row: Any) -> AuditRecord:
    return AuditRecord(**row._asdict())


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify`: ``head_hash`` is the newest entry's hash (``GENESIS`` when the log is empty)."""

    ok: bool
    checked: int
    head_hash: str
    problems: list[str]


async def verify(sessions: SessionFactory, *, expected_head: str | None = None,
                 page_size: int = _PAGE_SIZE) -> VerifyReport:
    """Re-compute the whole chain in seq order, ``page_size`` rows at a time, and list every problem found.

    ``expected_head`` is a head hash exported earlier: if it no longer appears in the chain, the newest entries
    were removed (or the chain was rebuilt).
    """
    expected = expected_head.strip().lower() if expected_head else None
    problems: list[str] = []
    prev: AuditRecord | None = None
    checked, seen_expected = 0, expected in (None, GENESIS)
    while page := await _page(sessions, after=prev.seq if prev else None, size=page_size):
        for record in page:
            problems.extend(_check(record, prev))
            seen_expected = seen_expected or record.entry_hash == expected
            prev, checked = record, checked + 1
    if not seen_expected:
        problems.append(f"the exported head {expected} is not in the chain: the newest entries were deleted "
                        "(tail truncated) or the log was rewritten")
    return VerifyReport(not problems, checked, prev.entry_hash if prev else GENESIS, problems)


async def _page(sessions: SessionFactory, *, after: int | None, size: int) -> list[AuditRecord]:
    # Keyset pagination in a short session per page: memory stays bounded and no long transaction is held open.
    query = select(*_COLUMNS).order_by(AuditEntry.seq).limit(size)
    if after is not None:
        query = query.where(AuditEntry.seq > after)
    async with sessions() as session:
        return [_record(row) for row in await session.execute(query)]


def _check(record: AuditRecord, prev: AuditRecord | None) -> list[str]:
    problems = _sequence_problems(record, prev.seq if prev else 0)
    if not problems and record.prev_hash != (prev.entry_hash if prev else GENESIS):
        problems.append(f"entry {record.seq} does not chain to entry {prev.seq}" if prev
                        else f"entry {record.seq} does not start the chain (its previous hash is not the genesis)")
    fields = {name: getattr(record, name) for name in (*_FIELDS, "rpps")}
    if _digest(record.prev_hash, record.seq, record.at, fields, record.version) != record.entry_hash:
        problems.append(f"entry {record.seq} was modified (hash mismatch)")
    return problems


def _sequence_problems(record: AuditRecord, prev_seq: int) -> list[str]:
    expected = prev_seq + 1
    if record.seq == expected:
        return []
    if record.seq < expected:
        return [f"entry {record.seq} is out of sequence (expected entry {expected})"]
    missing = f"entry {expected} is" if record.seq == expected + 1 else f"entries {expected} to {record.seq - 1} are"
    where = f"sequence jumps from {prev_seq} to {record.seq}" if prev_seq else f"the log starts at entry {record.seq}"
    return [f"{missing} missing ({where})"]


def format_report(report: VerifyReport) -> str:
    """Human-readable report for ``lucarne audit verify``."""
    lines = [f"audit log: {report.checked} entries checked", f"head hash: {report.head_hash}"]
    lines += [f"PROBLEM: {problem}" for problem in report.problems]
    if report.ok:
        lines.append("OK: the hash chain is intact. Keep the head hash elsewhere and pass it to --expect-head "
                     "next time to also detect deletion of the newest entries.")
    else:
        lines.append(f"FAILED: {len(report.problems)} problem(s) found")
    return "\n".join(lines)
