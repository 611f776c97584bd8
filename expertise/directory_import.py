"""Streaming, idempotent import of the RPPS extract: batches of whole professionals, one transaction each.

A professional's lines are grouped (the national extract lists them together); each group is compared with the
stored digest of the professional and written only when it changed: inserted, updated (its activities replaced)
or unchanged. Rejected lines go to a CSV reject file while the rest imports (the import is then partly applied,
and its summary says so). A batch is committed whole or not at all, so the database always holds complete
professionals; a re-run after a failure resumes idempotently. ``atomic`` makes the whole file one transaction,
written only when no line is rejected. A file whose last line is cut short is refused before anything is written
(unless ``accept_truncated``): its professional's activities would be replaced by fewer lines.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .directory_errors import DirectoryError, ImportRefused
from .extract_reader import open_extract, parse_chunks, read_chunks, refuse_truncated
from .models import Activity, Professional
from .rpps_format import ACTIVITY_FIELDS, IDENTITY_FIELDS, Header, ValidLine

__all__ = ["ImportReport", "RejectFile", "import_rpps", "csv_safe", "read_extract"]

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]  # receives the number of bytes read since the last call


@dataclass(frozen=True)
class ImportReport:
    """Professionals inserted/updated/unchanged, activity lines written, lines rejected."""

    source: str
    encoding: str
    lines: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    activities: int
    dry_run: bool

    def summary(self) -> str:
        return import_summary(self, self.activities, "activity lines")


def import_summary(report: Any, rows: int, rows_label: str) -> str:
    """One line for the operator: what an import of any of the extract files did (or would do, in a dry run)."""
    verb = "would be " if report.dry_run else ""
    dry = " (dry run: nothing written)" if report.dry_run else ""
    partly = (f"; partly {verb}applied: the other lines {verb}imported without the {report.rejected} rejected "
              "(use --atomic to write nothing when a line is rejected)") if report.rejected else ""
    return (f"{report.lines} lines ({report.encoding}): professionals {verb}inserted {report.inserted}, "
            f"{verb}updated {report.updated}, unchanged {report.unchanged}; {rows} {rows_label} "
            f"{verb}written; {report.rejected} lines rejected{partly}{dry}")


def refuse_rejects(rejected: int) -> ImportRefused:
    """The error of an ``--atomic`` import that rejected lines (its transaction is rolled back)."""
    return ImportRefused(f"{rejected} line(s) rejected and --atomic asked for all or nothing: the import was "
                         "rolled back; see the rejected lines")


def csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or tab/CR) is prefixed with a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class RejectFile:
    """CSV of rejected lines (line number, reason, content), written as the import goes."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream)
        self._writer.writerow(["line", "reason", "content"])
        self.count = 0

    def write(self, number: int, reason: str, content: str) -> None:
        self.count += 1
        self._writer.writerow([str(number), csv_safe(reason), csv_safe(content[:2000])])


class _Seen:
    """RPPS identifiers already written in this run, in bounded memory: 8 bytes each in a sorted array (the
    extract is sorted), plus a set for the rare identifier that comes out of order."""

    def __init__(self) -> None:
        self._sorted = array("q")
        self._extra: set[int] = set()

    def add(self, rpps: str) -> None:
        value = int(rpps)
        if not self._sorted or value > self._sorted[-1]:
            self._sorted.append(value)
        elif not self.__contains__(rpps):
            self._extra.add(value)

    def __contains__(self, rpps: str) -> bool:
        value = int(rpps)
        if self._sorted and value <= self._sorted[-1]:
            at = bisect_left(self._sorted, value)
            if at < len(self._sorted) and self._sorted[at] == value:
                return True
        return value in self._extra


class _Group:
    """A professional's lines in the current batch. A plain slotted class: 1.7 million are made per national
    import, and a dataclass with three default factories cost a noticeable share of the run."""

    __slots__ = ("activities", "continuation", "first_line", "identity", "numbers", "raw", "rpps")

    def __init__(self, rpps: str, identity: tuple[str, ...], first_line: int, continuation: bool,
                 raw: list[bytes] | None = None) -> None:
        self.rpps = rpps
        self.identity = identity
        self.first_line = first_line
        self.continuation = continuation  # the professional already had lines written earlier in this run
        self.activities: list[tuple[str | None, ...]] = []
        self.numbers: list[int] = []  # line (or entry) number of each activity
        self.raw: list[bytes] = raw if raw is not None else []

    def earlier(self, activity: tuple[str | None, ...]) -> int | None:
        """Line number of an identical activity already in the group (groups hold 1 to 4 lines)."""
        for known, number in zip(self.activities, self.numbers, strict=True):
            if known == activity:
                return number
        return None

    def add(self, activity: tuple[str | None, ...], number: int) -> None:
        self.activities.append(activity)
        self.numbers.append(number)

    def digest(self) -> str:
        """Digest of the professional's lines as read (cheaper than re-serialising the parsed fields; a change in
        any column, stored or not, counts as an update)."""
        return hashlib.blake2b(b"\n".join(self.raw), digest_size=16).hexdigest()


@dataclass
class _Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    activities: int = 0


def read_extract(stream: IO[bytes], rejects: RejectFile) -> tuple[str, Iterator[ValidLine]]:
    """Detect the encoding, check the header, then yield valid lines; invalid ones go to ``rejects``.
    (Parse only, in this process: the benchmark's baseline.)"""
    path = Path(stream.name)
    encoding, header = open_extract(path)

    def lines() -> Iterator[ValidLine]:
        for chunk in parse_chunks(path, encoding, header, 10_000):
            for number, reason, content in chunk.rejected:
                rejects.write(number, reason, content)
            yield from chunk.lines

    return encoding, lines()


async def import_rpps(engine: AsyncEngine, path: Path, *, now: datetime, rejects: RejectFile,
                      dry_run: bool = False, batch_lines: int = 5000, progress: Progress | None = None,
                      atomic: bool = False, accept_truncated: bool = False) -> ImportReport:
    """Import ``path`` (a ``PS_LibreAcces_Personne_activite`` extract) into the directory.

    :raises ImportRefused: wrong encoding or header, a truncated file (unless ``accept_truncated``), or with
        ``atomic`` any rejected line; nothing is written then.
    :raises DirectoryError: a batch failed to write; earlier batches stay committed (re-running is idempotent),
        except with ``atomic``, where nothing is.
    """
    encoding, header = open_extract(path)
    if not accept_truncated:
        refuse_truncated(path, Header(header).width)
    counts = _Counts()
    seen = _Seen()
    batch: dict[str, _Group] = {}
    batch_size = 0
    last_line = 1
    async with engine.connect() as conn:
        await _tune(conn, dry_run)
        bulk = not dry_run and not atomic and await _bulk_load(conn)
        commit = not atomic
        try:
            async for chunk in read_chunks(path, encoding, header, batch_lines):
                for number, reason, content in chunk.rejected:
                    rejects.write(number, reason, content)
                if progress is not None:
                    progress(chunk.nbytes)
                last_line = chunk.last_line
                for line in chunk.lines:
                    group = batch.get(line.rpps)
                    if group is None:
                        if batch_size >= batch_lines:
                            await _write(conn, batch, counts, seen, rejects, now, dry_run, bulk, commit)
                            batch, batch_size = {}, 0
                        group = batch[line.rpps] = _Group(line.rpps, line.identity, line.number,
                                                          continuation=line.rpps in seen)
                    if _add(group, line, rejects):
                        batch_size += 1
            await _write(conn, batch, counts, seen, rejects, now, dry_run, bulk, commit)
            if atomic:
                await _finish_atomic(conn, rejects.count)
        finally:
            if bulk:
                await _restore_indexes(conn)
        if not dry_run and (counts.inserted or counts.updated):
            await _analyze(conn)
    return ImportReport("rpps", encoding, max(last_line - 1, 0), counts.inserted, counts.updated, counts.unchanged,
                        rejects.count, counts.activities, dry_run)


async def _write(conn: AsyncConnection, batch: dict[str, _Group], counts: _Counts, seen: _Seen,
                 rejects: RejectFile, now: datetime, dry_run: bool, bulk: bool, commit: bool = True) -> None:
    for rpps in batch:
        seen.add(rpps)
    # Into an empty directory every professional seen for the first time is new: no digest to look up.
    await _flush(conn, batch, counts, rejects, now, dry_run, known_new=bulk, commit=commit)


async def _finish_atomic(conn: AsyncConnection, rejected: int) -> None:
    """Commit the one transaction of an ``atomic`` import, or roll it back when any line was rejected."""
    if rejected:
        await conn.rollback()
        raise refuse_rejects(rejected)
    await conn.commit()


_ACTIVITY_INDEXES = tuple(Activity.__table__.indexes)  # type: ignore[attr-defined]


async def _bulk_load(conn: AsyncConnection) -> bool:
    """Into an empty directory, load without the activity indexes and build them once at the end (a sorted build
    is much cheaper than 2.4 million incremental inserts into each). Indexes a crashed run left out are restored
    first."""
    await _restore_indexes(conn)
    if (await conn.scalar(select(Activity.id).limit(1)) is not None
            or await conn.scalar(select(Professional.rpps).limit(1)) is not None):
        await conn.rollback()
        return False
    for index in _ACTIVITY_INDEXES:
        await conn.run_sync(index.drop)
    await conn.commit()
    if conn.dialect.name == "sqlite":
        # Each activity's parent is inserted just before it in the same transaction: the per-row check is moot.
        await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    return True


async def _restore_indexes(conn: AsyncConnection) -> None:
    await conn.rollback()
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    for index in _ACTIVITY_INDEXES:
        await conn.run_sync(index.create, checkfirst=True)
    await conn.commit()


async def _analyze(conn: AsyncConnection) -> None:
    """Fresh planner statistics on PostgreSQL (~3 s for the national file). Right after a first import they describe
    empty tables, and routing's pool queries ran as sequential scans of every activity line (300 ms instead of 30)
    until autovacuum caught up."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("ANALYZE directory_professionals, directory_activities")
        await conn.commit()


def _add(group: _Group, line: ValidLine, rejects: RejectFile) -> bool:
    if line.identity != group.identity:
        rejects.write(line.number, f"duplicate identifier: RPPS {line.rpps} is on line {group.first_line} with "
                                   "a different identity (name or civility)", "|".join(line.identity))
        return False
    earlier = group.earlier(line.activity) if group.activities else None
    if earlier is not None:
        rejects.write(line.number, f"duplicate line: same RPPS and activity as line {earlier}",
                      "|".join(v or "" for v in line.activity))
        return False
    group.add(line.activity, line.number)
    group.raw.append(line.raw)
    return True


async def _tune(conn: AsyncConnection, dry_run: bool) -> None:
    """Import-connection settings only: on SQLite (WAL), NORMAL sync still commits atomically. (The pool may hand
    this connection out later: these settings are harmless for ordinary use.)"""
    if conn.dialect.name == "sqlite" and not dry_run:
        # Checkpoint every 64 MB of log instead of 4 MB (each checkpoint syncs the database file); 32 MB of page
        # cache; index sorts spill to temporary files, not memory.
        for pragma in ("PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-32768", "PRAGMA wal_autocheckpoint=16384"):
            await conn.exec_driver_sql(pragma)
        await conn.commit()


async def _flush(conn: AsyncConnection, batch: dict[str, _Group], counts: _Counts, rejects: RejectFile,
                 now: datetime, dry_run: bool, source: str = "rpps", known_new: bool = False,
                 commit: bool = True) -> None:
    if not batch:
        return
    fresh = {r: g for r, g in batch.items() if not g.continuation}
    stored: dict[str, str] = {}
    if fresh and not known_new:
        for chunk in _chunks(list(fresh)):
            query = select(Professional.rpps, Professional.row_hash).where(Professional.rpps.in_(chunk))
            stored.update((rpps, digest) for rpps, digest in (await conn.execute(query)).all())
    digests = {rpps: group.digest() for rpps, group in fresh.items()}
    new = [r for r in fresh if r not in stored]
    changed = [r for r in fresh if r in stored and stored[r] != digests[r]]
    counts.unchanged += len(fresh) - len(new) - len(changed)
    counts.inserted += len(new)
    counts.updated += len(changed)
    later = [g for g in batch.values() if g.continuation]
    if dry_run:
        counts.activities += sum(len(fresh[r].activities) for r in new + changed)
        counts.activities += sum(len(g.activities) for g in later)
        await conn.rollback()
        return
    first_line = min(g.first_line for g in batch.values())
    sql = _Statements.of(conn)
    try:
        stamp = sql.stamp(now)
        rows = [(r, *fresh[r].identity, source, digests[r], stamp) for r in new + changed]
        if rows:
            await conn.exec_driver_sql(sql.upsert_professional, rows)
        if changed:
            for chunk in _chunks(changed):
                await conn.execute(delete(Activity).where(Activity.rpps.in_(chunk)))
        activity_rows = [(r, i, *a) for r in new + changed for i, a in enumerate(fresh[r].activities)]
        for group in later:
            activity_rows += await _continue(conn, group, rejects, now)
        if activity_rows:
            await conn.exec_driver_sql(sql.insert_activity, activity_rows)
        if commit:
            await conn.commit()
    except DirectoryError:
        await conn.rollback()
        raise
    except Exception as exc:
        await conn.rollback()
        logger.exception("directory import batch from line %d failed", first_line)
        raise DirectoryError(f"writing the batch that starts at line {first_line} failed ({type(exc).__name__}); "
                             "earlier batches are committed and a re-run resumes idempotently") from exc
    counts.activities += len(activity_rows)


async def _continue(conn: AsyncConnection, group: _Group, rejects: RejectFile, now: datetime) -> list[tuple[Any, ...]]:
    """A professional whose lines were split apart in the file: append the activities not stored yet."""
    person = (await conn.execute(select(Professional).where(Professional.rpps == group.rpps))).one_or_none()
    if person is None:
        return []
    identity = tuple(getattr(person, f) for f in IDENTITY_FIELDS)
    if identity != group.identity:
        for activity in group.activities:
            rejects.write(group.first_line, f"duplicate identifier: RPPS {group.rpps} was imported earlier in this "
                                            "file with a different identity", "|".join(v or "" for v in activity))
        return []
    columns = [Activity.__table__.c[f] for f in ACTIVITY_FIELDS]
    existing = {tuple(row) for row in (await conn.execute(select(*columns).where(Activity.rpps == group.rpps))).all()}
    position = (await conn.scalar(select(func.max(Activity.position)).where(Activity.rpps == group.rpps))) or 0
    rows = []
    for activity in group.activities:
        if activity not in existing:
            position += 1
            rows.append((group.rpps, position, *activity))
    if rows:
        merged = hashlib.blake2b((person.row_hash + group.digest()).encode(), digest_size=16).hexdigest()
        await conn.execute(update(Professional).where(Professional.rpps == group.rpps)
                           .values(row_hash=merged, updated_at=now))
    return rows


_CHUNK = 500


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    """Fixed-size IN lists, padded with an impossible key: one statement shape, so the drivers' prepared-statement
    caches (sqlite3, asyncpg) hold one entry instead of one per batch size (which grew memory by the batch)."""
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        yield chunk + [""] * (_CHUNK - len(chunk))


_PROFESSIONAL_COLUMNS = ("rpps", *IDENTITY_FIELDS, "source", "row_hash", "updated_at")
_ACTIVITY_COLUMNS = ("rpps", "position", *ACTIVITY_FIELDS)


@dataclass(frozen=True)
class _Statements:
    """Driver-level SQL for the hot path: executemany over tuples skips per-row parameter compilation, which
    cost more than SQLite's own work."""

    upsert_professional: str
    insert_activity: str
    stamp: Callable[[datetime], Any]

    @classmethod
    def of(cls, conn: AsyncConnection) -> _Statements:
        dialect = conn.dialect
        numbered = dialect.paramstyle in ("numeric_dollar", "numeric")
        mark = "$" if dialect.paramstyle == "numeric_dollar" else ":"

        def values(count: int) -> str:
            return ", ".join(f"{mark}{i + 1}" if numbered else "?" for i in range(count))

        updates = ", ".join(f"{c} = excluded.{c}" for c in _PROFESSIONAL_COLUMNS[1:])
        upsert = (f"INSERT INTO directory_professionals ({', '.join(_PROFESSIONAL_COLUMNS)}) "
                  f"VALUES ({values(len(_PROFESSIONAL_COLUMNS))}) ON CONFLICT (rpps) DO UPDATE SET {updates}")
        insert = (f"INSERT INTO directory_activities ({', '.join(_ACTIVITY_COLUMNS)}) "
                  f"VALUES ({values(len(_ACTIVITY_COLUMNS))})")
        processor = Professional.__table__.c.updated_at.type.bind_processor(dialect)
        return cls(upsert, insert, processor if processor is not None else (lambda value: value))


