"""Directory benchmark: import of a generated national-size RPPS extract, then routing decision latency.

1. Generate a deterministic extract (``bench/rpps_extract.py``; cached in the work directory).
2. Baseline: read and parse the whole file without writing (same code path as the import, no database).
3. ``lucarne directory import FILE`` in a child process on SQLite, then on PostgreSQL: wall time and peak RSS
   of the importing process (``wait4`` rusage); then a re-import on SQLite (every professional unchanged).
4. Expertise profiles for a few percent of the doctors (their specialty, languages, some current absences).
5. Routing: the read side of a routing decision (``Directory.candidates``, the candidates' open-request counts from
   ``LoadBook``, ``rank_candidates``) for many random (specialty, commune, language) requests, p50/p99, and the
   same plus the chosen specialist's capacity confirmation (one count in the routing transaction), against a
   trivial primary-key lookup through the same session factory (the baseline), on SQLite and PostgreSQL.

Usage: ``python -m bench.directory --lines 2400000`` (heavy: run under ``flock /tmp/lucarne-heavy.lock``).
Results: ``bench/results/directory.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from bench.rpps_extract import DOCTOR_SPECIALTIES, generate
from expertise import Directory, RejectFile, rank_candidates
from expertise.directory_import import read_extract
from expertise.loads import LoadBook
from expertise.models import Absence, Professional, Profile, ProfileLanguage, ProfileSpecialty
from server.platform.db import open_database
from server.platform.runtime import batch_job_gc, freeze_startup_heap

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "directory.json"
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def machine() -> str:
    import platform

    return f"{platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} cores"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def extract(work: Path, lines: int, seed: int) -> Path:
    path = work / f"PS_LibreAcces_Personne_activite_{lines}_{seed}.txt"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".part")
        generate(partial, lines, seed=seed)
        partial.rename(path)
        print(f"generated {path} ({path.stat().st_size >> 20} MB) in {time.perf_counter() - started:.0f} s")
    return path


def parse_only(path: Path) -> float:
    started = time.perf_counter()
    # The collector settings of `lucarne directory import` (without its per-batch young collection: ~1 s here).
    with batch_job_gc(), path.open("rb") as stream:
        _, valid = read_extract(stream, RejectFile(io.StringIO()))
        for _ in valid:
            pass
    return time.perf_counter() - started


def import_child(path: Path, url: str, work: Path) -> tuple[float, float, str]:
    """Run ``lucarne directory import`` as a child; wall seconds, its peak RSS in MB (``wait4``), the summary."""
    env = {**os.environ, "LUCARNE_DATABASE_URL": url, "LUCARNE_VAR_DIR": str(work / "var"),
           "PYTHONPATH": str(ROOT)}
    out_path, err_path = work / "import.out", work / "import.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "server", "directory", "import", str(path),
                                  "--rejects", str(work / "rejects.csv")], env=env, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"import failed: {err_path.read_text()[-2000:]}")
    return elapsed, round(usage.ru_maxrss / 1024, 1), out_path.read_text().strip().splitlines()[0]


async def reset(url: str) -> None:
    async with open_database(url) as (engine, _):
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))


async def seed_profiles(url: str, share: float, seed: int) -> tuple[int, list[str]]:
    """Profiles for ``share`` of the specialist doctors; returns their count and the communes seen."""
    rng = random.Random(seed)
    async with open_database(url) as (engine, sessions):
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT rpps, MIN(specialty_code), MIN(commune) FROM directory_activities "
                "WHERE profession_code = '10' AND specialty_code IS NOT NULL GROUP BY rpps"))).all()
        chosen = [(r, s) for r, s, _ in rows if rng.random() < share]
        communes = sorted({c for _, _, c in rows if c})
        profiles = [{"rpps": r, "capacity": rng.choice((2, 3, 5, 8)), "updated_at": AT} for r, _ in chosen]
        specialties = [{"rpps": r, "specialty": s} for r, s in chosen]
        languages = [{"rpps": r, "language": "fr"} for r, _ in chosen]
        languages += [{"rpps": r, "language": rng.choice(("en", "es", "ar", "de"))} for r, _ in chosen
                      if rng.random() < 0.25]
        absences = [{"rpps": r, "starts_at": AT - timedelta(days=2), "ends_at": AT + timedelta(days=5), "note": ""}
                    for r, _ in chosen if rng.random() < 0.05]
        async with engine.begin() as conn:
            for table, values in ((Profile, profiles), (ProfileSpecialty, specialties),
                                  (ProfileLanguage, languages), (Absence, absences)):
                for start in range(0, len(values), 5000):
                    await conn.execute(table.__table__.insert(), values[start:start + 5000])  # type: ignore[attr-defined]
        if engine.dialect.name == "postgresql":
            # Statistics for the new rows, as autovacuum's analyze would have them a minute later in service.
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE expertise_profiles, expertise_profile_specialties, "
                                           "expertise_profile_languages, expertise_absences")
                await conn.commit()
    return len(profiles), communes


async def clear_profiles(url: str) -> None:
    async with open_database(url) as (engine, _):
        async with engine.begin() as conn:
            for table in (Absence, ProfileLanguage, ProfileSpecialty, Profile):
                await conn.execute(table.__table__.delete())  # type: ignore[attr-defined]


async def route_latency(url: str, communes: list[str], queries: int, seed: int,
                        pool_ttl: float = 5.0) -> dict[str, float]:
    """Routing decisions as the server makes them: candidate pools and open-request counts cached 5 s (refreshed
    ahead in the background, inside the sample), ranking, then the capacity confirmation the dispatcher runs in its
    routing transaction for the chosen specialist. ``pool_ttl`` = 0: every decision in SQL (pools and counts)."""
    rng = random.Random(seed)
    specialties = [s[0] for s in DOCTOR_SPECIALTIES if s[0] not in ("SM53", "SM26")]
    async with open_database(url) as (engine, sessions):
        directory = Directory(sessions, pool_ttl=pool_ttl)
        book = LoadBook(sessions, ttl=pool_ttl)
        sample = [(rng.choice(specialties), rng.choice(communes), "en" if rng.random() < 0.2 else None)
                  for _ in range(queries)]
        async with sessions() as session:
            ids = list((await session.scalars(select(Professional.rpps).limit(5000))).all())
        freeze_startup_heap()  # as the server does before it serves (server/cli.py)
        for specialty, commune, language in sample[:50]:  # warm caches and prepared statements
            await directory.candidates(specialty, commune, AT, language=language)
        route, confirmed, found = [], [], []
        for specialty, commune, language in sample:
            async with sessions() as session:
                # The dispatcher decides inside the routing transaction, already open (it locked the request).
                await session.execute(text("SELECT 1"))
                started = time.perf_counter()
                # The read side of a routing decision (expertise/dispatch.py): candidates, their open requests,
                # the ranking; then the chosen specialist's count confirmed in the transaction (with caching on).
                candidates = await directory.candidates(specialty, commune, AT, language=language)
                loads = await book.loads(session, [candidate.rpps for candidate in candidates])
                ranked = rank_candidates(candidates, loads, language=language)
                decided = time.perf_counter()
                if ranked and book.cached:
                    await book.confirm(session, ranked[0].rpps)
                done = time.perf_counter()
            route.append((decided - started) * 1000)
            confirmed.append((done - started) * 1000)
            found.append(len(ranked))
        lookup = []
        for _ in range(queries):
            rpps = rng.choice(ids)
            started = time.perf_counter()
            async with sessions() as session:
                await session.get(Professional, rpps)
            lookup.append((time.perf_counter() - started) * 1000)
        await directory.close()
        await book.close()
    return {"p50": percentile(route, 0.5), "p99": percentile(route, 0.99), "base_p50": percentile(lookup, 0.5),
            "base_p99": percentile(lookup, 0.99), "candidates_median": statistics.median(found),
            "confirmed_p50": percentile(confirmed, 0.5), "confirmed_p99": percentile(confirmed, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2_400_000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--profile-share", type=float, default=0.04, help="share of specialist doctors with a "
                                                                            "profile accepting tele-expertise")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lucarne-bench-directory"))
    parser.add_argument("--pg-url", default=os.environ.get("LUCARNE_BENCH_PG_URL",
                                                           "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--route-only", action="store_true",
                        help="re-measure routing on the databases a previous full run imported (keeps its figures)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sqlite_url = f"sqlite+aiosqlite:///{args.work / 'directory.db'}"
    if args.route_only:
        figures = json.loads(RESULTS.read_text())
        routing(figures, args, sqlite_url)
        return
    path = extract(args.work, args.lines, args.seed)
    figures: dict[str, Any] = {"lines": args.lines}

    figures["parse_only_s"] = round(parse_only(path), 1)
    print(f"baseline, parse only: {figures['parse_only_s']} s")

    sqlite_db = args.work / "directory.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_db}{suffix}").unlink(missing_ok=True)
    seconds, peak, summary = import_child(path, sqlite_url, args.work)
    figures.update(import_s_sqlite=round(seconds, 1), import_peak_mb_sqlite=peak)
    print(f"SQLite import: {seconds:.1f} s, peak {peak} MB: {summary}")
    seconds, peak_again, summary = import_child(path, sqlite_url, args.work)
    figures.update(reimport_s_sqlite=round(seconds, 1))
    print(f"SQLite re-import: {seconds:.1f} s: {summary}")
    peaks = [peak, peak_again]

    if not args.no_pg:
        asyncio.run(reset(args.pg_url))
        seconds, peak_pg, summary = import_child(path, args.pg_url, args.work)
        figures.update(import_s_postgresql=round(seconds, 1), import_peak_mb_postgresql=peak_pg)
        peaks.append(peak_pg)
        print(f"PostgreSQL import: {seconds:.1f} s, peak {peak_pg} MB: {summary}")
    figures["import_peak_mb"] = max(peaks)
    figures["import_vs_parse_ratio_sqlite"] = round(figures["import_s_sqlite"] / figures["parse_only_s"], 2)

    routing(figures, args, sqlite_url)


def routing(figures: dict[str, Any], args: argparse.Namespace, sqlite_url: str) -> None:
    asyncio.run(clear_profiles(sqlite_url))
    count, communes = asyncio.run(seed_profiles(sqlite_url, args.profile_share, args.seed))
    figures["profiles"] = count
    route = asyncio.run(route_latency(sqlite_url, communes, args.queries, args.seed))
    figures.update(route_ms_p50=round(route["p50"], 2), route_ms_p99=round(route["p99"], 2),
                   baseline_pk_ms_p50=round(route["base_p50"], 3), baseline_pk_ms_p99=round(route["base_p99"], 3),
                   route_vs_pk_ratio_p50=round(route["p50"] / route["base_p50"], 1),
                   route_candidates_median=route["candidates_median"], route_queries=args.queries,
                   route_ms_p50_with_confirm=round(route["confirmed_p50"], 2),
                   route_ms_p99_with_confirm=round(route["confirmed_p99"], 2))
    print(f"routing on SQLite: p50 {route['p50']:.2f} ms, p99 {route['p99']:.2f} ms "
          f"(primary-key lookup p50 {route['base_p50']:.3f} ms); with the capacity confirmation "
          f"p50 {route['confirmed_p50']:.2f} ms, p99 {route['confirmed_p99']:.2f} ms")
    uncached = asyncio.run(route_latency(sqlite_url, communes, max(args.queries // 4, 50), args.seed, pool_ttl=0))
    figures.update(route_ms_p50_sql_only=round(uncached["p50"], 2), route_ms_p99_sql_only=round(uncached["p99"], 2))
    print(f"routing on SQLite, every decision in SQL: p50 {uncached['p50']:.2f} ms, p99 {uncached['p99']:.2f} ms")
    if not args.no_pg:
        asyncio.run(clear_profiles(args.pg_url))
        asyncio.run(seed_profiles(args.pg_url, args.profile_share, args.seed))
        route_pg = asyncio.run(route_latency(args.pg_url, communes, args.queries, args.seed))
        figures.update(route_ms_p50_postgresql=round(route_pg["p50"], 2),
                       route_ms_p99_postgresql=round(route_pg["p99"], 2),
                       route_ms_p50_with_confirm_postgresql=round(route_pg["confirmed_p50"], 2),
                       route_ms_p99_with_confirm_postgresql=round(route_pg["confirmed_p99"], 2),
                       baseline_pk_ms_p50_postgresql=round(route_pg["base_p50"], 3))
        print(f"routing on PostgreSQL: p50 {route_pg['p50']:.2f} ms, p99 {route_pg['p99']:.2f} ms; with the "
              f"capacity confirmation p50 {route_pg['confirmed_p50']:.2f} ms, p99 {route_pg['confirmed_p99']:.2f} ms")
    figures.update(machine=machine(), date=datetime.now(UTC).isoformat(timespec="seconds"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
