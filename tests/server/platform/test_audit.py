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

from server.platform.audit import (
    CHAIN_VERSION,
    GENESIS,
    AuditContext,
    AuditEvent,
    AuditLog,
    entry_hash,
    format_report,
    verify,
)
from server.platform.clock import ManualClock
from server.platform.db import SessionFactory, open_database
from server.platform.migrate import upgrade
from tests.conftest import reset_postgres

ROOT = Path(__file__).resolve().parents[3]
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
from server.platform.audit import AuditEvent, AuditLog
from server.platform.clock import SystemClock
from server.platform.db import open_database

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


def test_long_values_are_cut_to_the_column_sizes_never_refused() -> None:
    # A failed login with an 80-character user name used to raise here (500, and the entry was lost).
    long = AuditEvent("login:" + "a" * 80, "r" * 30, "x" * 70, "o" * 200, "r" * 30, "1" * 100, "9" * 30)
    assert (len(long.actor), len(long.role), len(long.action), len(long.object), len(long.result),
            len(long.remote), len(long.rpps)) == (64, 20, 60, 120, 20, 64, 20)
    assert long.actor.startswith("login:aaa") and long.actor.endswith("…")
    assert AuditEvent("a" * 64, "admin", "login", "session", "ok").actor == "a" * 64


async def test_a_failed_login_with_a_long_user_name_is_audited(db: Db) -> None:
    _, sessions = db
    log = AuditLog(sessions, ManualClock(START))
    await log.record(AuditEvent("login:" + "é" * 75, "unknown", "login", "session", "failed", "198.51.100.4"))
    stored = (await log.entries())[0]
    assert stored.result == "failed" and len(stored.actor) == 64 and stored.remote == "198.51.100.4"
    assert (await verify(sessions)).ok


async def test_entries_take_address_rpps_and_role_from_the_bound_context(db: Db) -> None:
    _, sessions = db
    log = AuditLog(sessions, ManualClock(START))
    context = AuditContext("user7", "practitioner", "10003456789", "203.0.113.9")
    with log.bound(context):
        await log.record(AuditEvent("user7", "", "consultation.read", "consultation:1", "ok"))
        # Another actor in the same request (a login attempt for a name): the address, not this user's RPPS.
        await log.record(AuditEvent("login:bob", "unknown", "login", "session", "failed"))
    await log.record(AuditEvent("user7", "practitioner", "consultation.read", "consultation:2", "ok"))
    second, first, outside = await log.entries(limit=3)
    assert (outside.remote, outside.rpps, outside.role) == ("203.0.113.9", "10003456789", "practitioner")
    assert (first.actor, first.remote, first.rpps) == ("login:bob", "203.0.113.9", "")
    assert (second.remote, second.rpps) == ("", "")
    assert log.context is None
    assert {record.version for record in (second, first, outside)} == {CHAIN_VERSION}
    assert (await verify(sessions)).ok


async def test_bound_contexts_of_concurrent_requests_do_not_mix(db: Db) -> None:
    _, sessions = db
    log = AuditLog(sessions, ManualClock(START))

    async def request(number: int) -> None:
        with log.bound(AuditContext(f"user{number}", "practitioner", "", f"192.0.2.{number}")):
            await asyncio.sleep(0)
            await log.record(AuditEvent(f"user{number}", "practitioner", "x.read", f"o:{number}", "ok"))

    await asyncio.gather(*(request(number) for number in range(1, 20)))
    assert all(record.remote == f"192.0.2.{record.actor.removeprefix('user')}" for record in await log.entries())


async def test_the_rpps_and_the_chain_version_are_covered_by_the_hash(db: Db) -> None:
    engine, sessions = db
    log = AuditLog(sessions, ManualClock(START))
    for number in range(3):
        await log.record(AuditEvent("user1", "practitioner", "consultation.read", f"consultation:{number}", "ok",
                                    "192.0.2.1", "10003456789"))
    await execute(engine, "UPDATE audit_entries SET rpps = '10009999999' WHERE seq = 2")
    await execute(engine, "UPDATE audit_entries SET version = 1 WHERE seq = 3")
    assert (await verify(sessions)).problems == ["entry 2 was modified (hash mismatch)",
                                                 "entry 3 was modified (hash mismatch)"]


async def test_entries_written_before_the_migration_still_verify_beside_new_ones(database_url: str) -> None:
    """Version-1 entries (hash without RPPS) written at revision 0006, then the upgrade, then new entries."""
    async with open_database(database_url) as (engine, sessions):
        if engine.dialect.name == "postgresql":
            await reset_postgres(engine)
        await upgrade(engine, "0006")
        prev = GENESIS
        for seq in (1, 2):
            at = START + timedelta(seconds=seq)
            old = AuditEvent(f"user{seq}", "practitioner", "consultation.read", f"consultation:{seq}", "ok",
                             "192.0.2.7")
            digest = entry_hash(prev, seq, at, old, version=1)
            await execute(engine, "INSERT INTO audit_entries (seq, at, actor, role, action, object, result, remote, "
                                  "prev_hash, entry_hash) VALUES (:seq, :at, :actor, 'practitioner', "
                                  "'consultation.read', :object, 'ok', '192.0.2.7', :prev, :digest)",
                          seq=seq, at=at, actor=old.actor, object=old.object, prev=prev, digest=digest)
            prev = digest
        await upgrade(engine)
        log = AuditLog(sessions, ManualClock(START + timedelta(minutes=1)))
        await log.record(AuditEvent("user3", "practitioner", "chat.read", "consultation:3", "ok", "192.0.2.8",
                                    "10003456789"))
        report = await verify(sessions)
        assert report.ok and report.checked == 3, report.problems
        assert [(r.version, r.rpps) for r in await log.entries()] == [(2, "10003456789"), (1, ""), (1, "")]
        await execute(engine, "UPDATE audit_entries SET result = 'denied' WHERE seq = 1")
        assert (await verify(sessions)).problems == ["entry 1 was modified (hash mismatch)"]


def test_the_hash_covers_every_field_and_the_previous_hash() -> None:
    base = entry_hash(GENESIS, 1, START, event(1))
    assert len(base) == 64 and base == entry_hash(GENESIS, 1, START.astimezone(timezone(timedelta(hours=-5))), event(1))
    variants = [entry_hash("1" * 64, 1, START, event(1)), entry_hash(GENESIS, 2, START, event(1)),
                entry_hash(GENESIS, 1, START + timedelta(microseconds=1), event(1)),
                entry_hash(GENESIS, 1, START, event(1, "denied")),
                entry_hash(GENESIS, 1, START, AuditEvent("user1", "practitioner", "consultation.read",
                                                        "consultation:1", "ok", "192.0.2.8"))]
    assert base not in variants and len(set(variants)) == len(variants)
