"""The hash-chained audit log on the real databases: appending, concurrency, and detection of tampering."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import GENESIS, AuditEvent, AuditLog, entry_hash, format_report, verify
from server.clock import ManualClock
from server.db import SessionFactory

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)

Db = tuple[AsyncEngine, SessionFactory]


def event(number: int, result: str = "ok") -> AuditEvent:
    return AuditEvent(f"user{number}", "practitioner", "consultation.read", f"consultation:{number}", result,
                      "192.0.2.7")


async def fill(sessions: SessionFactory, count: int, clock: ManualClock | None = None) -> AuditLog:
    clock = clock or ManualClock(START)
    log = AuditLog(sessions, clock)
    for number in range(1, count + 1):
        assert await log.record(event(number)) == number
        clock.advance(seconds=1)
    return log


async def execute(engine: AsyncEngine, sql: str, **params: Any) -> None:
    """Tamper with the table behind the application's back, as someone with database access could."""
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)


async def test_a_chain_of_entries_verifies(db: Db) -> None:
    _, sessions = db
    log = await fill(sessions, 5)
    report = await verify(sessions)
    assert report == (await verify(sessions, page_size=2))
    assert report.ok and report.checked == 5 and report.problems == []
    newest = (await log.entries(limit=1))[0]
    assert newest.seq == 5 and report.head_hash == newest.entry_hash
    oldest = (await log.entries())[-1]
    assert oldest.seq == 1 and oldest.prev_hash == GENESIS
    assert oldest.entry_hash == entry_hash(GENESIS, 1, START, event(1))
    assert "OK" in format_report(report) and report.head_hash in format_report(report)


async def test_an_empty_log_verifies_with_the_genesis_head(db: Db) -> None:
    report = await verify(db[1])
    assert report.ok and report.checked == 0 and report.head_hash == GENESIS
    assert (await verify(db[1], expected_head=GENESIS)).ok


async def test_a_modified_entry_is_detected_with_its_seq(db: Db) -> None:
    engine, sessions = db
    await fill(sessions, 6)
    await execute(engine, "UPDATE audit_entries SET result = 'ok' WHERE seq = 4")
    assert (await verify(sessions)).ok  # same value: nothing changed
    await execute(engine, "UPDATE audit_entries SET result = 'denied' WHERE seq = 4")
    report = await verify(sessions)
    assert not report.ok and report.checked == 6
    assert report.problems == ["entry 4 was modified (hash mismatch)"]
    assert "FAILED" in format_report(report) and "entry 4 was modified" in format_report(report)


async def test_an_overlong_tampered_value_is_reported_not_raised(db: Db) -> None:
    engine, sessions = db
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stores values longer than the column size")
    await fill(sessions, 2)
    await execute(engine, "UPDATE audit_entries SET actor = :actor WHERE seq = 1", actor="x" * 200)
    assert (await verify(sessions)).problems == ["entry 1 was modified (hash mismatch)"]


async def test_a_deleted_middle_entry_is_detected(db: Db) -> None:
    engine, sessions = db
    await fill(sessions, 8)
    await execute(engine, "DELETE FROM audit_entries WHERE seq = 5")
    report = await verify(sessions)
    assert not report.ok and report.checked == 7
    assert report.problems == ["entry 5 is missing (sequence jumps from 4 to 6)"]
    await execute(engine, "DELETE FROM audit_entries WHERE seq IN (6, 7)")
    assert (await verify(sessions)).problems == ["entries 5 to 7 are missing (sequence jumps from 4 to 8)"]
    await execute(engine, "DELETE FROM audit_entries WHERE seq = 1")
    assert (await verify(sessions)).problems[0] == "entry 1 is missing (the log starts at entry 2)"


async def test_a_modified_entry_with_a_recomputed_hash_breaks_the_chain_at_the_next_entry(db: Db) -> None:
    engine, sessions = db
    log = await fill(sessions, 6)
    original = next(record for record in await log.entries() if record.seq == 3)
    forged = AuditEvent(original.actor, original.role, original.action, original.object, "denied", original.remote)
    forged_hash = entry_hash(original.prev_hash, 3, original.at, forged)
    await execute(engine, "UPDATE audit_entries SET result = 'denied', entry_hash = :h WHERE seq = 3", h=forged_hash)
    for page_size in (1000, 3):  # also across a page boundary: entry 3 ends the first page of 3
        report = await verify(sessions, page_size=page_size)
        assert not report.ok and report.problems == ["entry 4 does not chain to entry 3"]


async def test_a_forged_first_entry_must_start_from_the_genesis(db: Db) -> None:
    engine, sessions = db
    log = await fill(sessions, 1)
    first = (await log.entries())[0]
    prev = "f" * 64
    forged = entry_hash(prev, 1, first.at, event(1))
    await execute(engine, "UPDATE audit_entries SET prev_hash = :p, entry_hash = :h WHERE seq = 1", p=prev, h=forged)
    report = await verify(sessions)
    assert report.problems == ["entry 1 does not start the chain (its previous hash is not the genesis)"]


async def test_concurrent_records_get_contiguous_seqs_and_a_valid_chain(db: Db) -> None:
    _, sessions = db
    log = AuditLog(sessions, ManualClock(START))
    seqs = await asyncio.gather(*(log.record(event(number)) for number in range(50)))
    assert sorted(seqs) == list(range(1, 51))
    report = await verify(sessions, page_size=7)
    assert report.ok and report.checked == 50


async def test_writers_that_share_no_lock_retry_on_a_seq_clash(db: Db) -> None:
    # Two AuditLog instances stand for two processes: nothing in Python serialises them, only the database.
    _, sessions = db
    logs = [AuditLog(sessions, ManualClock(START)) for _ in range(2)]
    seqs = await asyncio.gather(*(logs[number % 2].record(event(number)) for number in range(40)))
    assert sorted(seqs) == list(range(1, 41))
    assert (await verify(sessions)).ok


WRITER = """
import asyncio, sys
from server.audit import AuditEvent, AuditLog
from server.clock import SystemClock
from server.db import open_database

async def main(url, name, count):
    async with open_database(url) as (_, sessions):
        log = AuditLog(sessions, SystemClock())
        for number in range(count):
            await log.record(AuditEvent(name, "admin", "test.write", f"object:{number}", "ok"))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_writers_in_separate_processes_keep_one_valid_chain(db: Db, database_url: str) -> None:
    _, sessions = db
    processes = [await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, database_url, f"proc{n}", "30",
                                                      cwd=ROOT, stderr=asyncio.subprocess.PIPE)
                 for n in range(3)]
    outputs = await asyncio.gather(*(process.communicate() for process in processes))
    assert [process.returncode for process in processes] == [0, 0, 0], [err.decode() for _, err in outputs]
    report = await verify(sessions)
    assert report.ok and report.checked == 90, report.problems
    actors = {record.actor for record in await AuditLog(sessions, ManualClock()).entries(limit=90)}
    assert actors == {"proc0", "proc1", "proc2"}


async def test_an_exported_head_detects_a_truncated_tail(db: Db) -> None:
    engine, sessions = db
    log = await fill(sessions, 5)
    exported = (await verify(sessions)).head_hash
    await log.record(event(6))
    assert (await verify(sessions, expected_head=exported)).ok  # the log grew after the export: fine
    await execute(engine, "DELETE FROM audit_entries WHERE seq >= 5")
    assert (await verify(sessions)).ok  # undetectable without the exported head
    report = await verify(sessions, expected_head=exported.upper() + "\n")
    assert not report.ok and report.checked == 4
    assert len(report.problems) == 1 and "tail truncated" in report.problems[0] and exported in report.problems[0]


async def test_manual_clock_times_are_stored_as_utc(db: Db) -> None:
    _, sessions = db
    paris = timezone(timedelta(hours=2))
    clock = ManualClock(datetime(2026, 6, 1, 10, 15, 30, 654321, tzinfo=paris))
    log = AuditLog(sessions, clock)
    await log.record(event(1))
    stored = (await log.entries())[0]
    assert stored.at == datetime(2026, 6, 1, 8, 15, 30, 654321, tzinfo=UTC)
    assert stored.at.utcoffset() == timedelta(0)
    assert stored.entry_hash == entry_hash(GENESIS, 1, stored.at, event(1))
    assert stored.entry_hash == entry_hash(GENESIS, 1, clock.now(), event(1))  # same instant, same hash
    assert (await verify(sessions)).ok


async def test_a_naive_clock_is_refused(db: Db) -> None:
    log = AuditLog(db[1], ManualClock(datetime(2026, 6, 1, 10, 0)))
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.record(event(1))
    assert (await verify(db[1])).checked == 0


async def test_entries_are_newest_first_and_filter_by_a_literal_prefix(db: Db) -> None:
    _, sessions = db
    log = AuditLog(sessions, ManualClock(START))
    for obj in ("user_1", "userX2", "user_3", "consultation:4"):
        await log.record(AuditEvent("admin1", "admin", "account.read", obj, "ok"))
    assert [record.seq for record in await log.entries()] == [4, 3, 2, 1]
    assert [record.object for record in await log.entries(object_prefix="user_")] == ["user_3", "user_1"]
    assert [record.seq for record in await log.entries(limit=2)] == [4, 3]
    with pytest.raises(ValueError):
        await log.entries(limit=0)


def test_events_are_checked_against_the_column_sizes() -> None:
    with pytest.raises(ValueError, match="actor"):
        AuditEvent("a" * 65, "admin", "login", "session", "ok")
    with pytest.raises(ValueError, match="object"):
        AuditEvent("a", "admin", "login", "o" * 121, "ok")
    with pytest.raises(ValueError, match="result"):
        AuditEvent("a", "admin", "login", "session", "r" * 21)
    assert AuditEvent("a" * 64, "admin", "login", "session", "ok", "r" * 100).remote == "r" * 64


def test_the_hash_covers_every_field_and_the_previous_hash() -> None:
    base = entry_hash(GENESIS, 1, START, event(1))
    assert len(base) == 64 and base == entry_hash(GENESIS, 1, START.astimezone(timezone(timedelta(hours=-5))), event(1))
    variants = [entry_hash("1" * 64, 1, START, event(1)), entry_hash(GENESIS, 2, START, event(1)),
                entry_hash(GENESIS, 1, START + timedelta(microseconds=1), event(1)),
                entry_hash(GENESIS, 1, START, event(1, "denied")),
                entry_hash(GENESIS, 1, START, AuditEvent("user1", "practitioner", "consultation.read",
                                                        "consultation:1", "ok", "192.0.2.8"))]
    assert base not in variants and len(set(variants)) == len(variants)
