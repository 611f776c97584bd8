"""``lucarne directory import FILE``: the RPPS extract files or a FHIR R4 Bundle into the professional directory."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from tqdm import tqdm

from expertise import (
    DIPLOMAS,
    MAX_PRUNE_SHARE,
    MAX_REJECT_SHARE,
    SAVOIR_FAIRE,
    DirectoryError,
    ImportRefused,
    ImportReport,
    ListImportReport,
    RejectFile,
    apply_prune,
    has_inactive,
    import_fhir_bundle,
    import_list,
    import_rpps,
    plan_prune,
    prune_refusal,
    routable_specialties,
    routing_changes,
    sniff_extract,
    sniff_format,
)

from ..config import Settings
from ..platform.audit import AuditEvent, AuditLog
from ..platform.clock import SystemClock
from ..platform.db import SessionFactory, open_database
from ..platform.migrate import upgrade
from ..platform.runtime import batch_job_gc

__all__ = ["add_directory_parser", "run_directory"]


def add_directory_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    directory = sub.add_parser("directory", help="professional directory tools")
    directory_sub = directory.add_subparsers(dest="directory_command", required=True)
    load = directory_sub.add_parser("import", help="import a PS_LibreAcces_Personne_activite, _SavoirFaire or "
                                                   "_Dipl_AutExerc extract or a FHIR R4 Bundle (upsert by RPPS: "
                                                   "re-importing is idempotent)")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=("auto", "rpps", "savoirfaire", "diplomas", "fhir"), default="auto",
                      help="auto: a JSON Bundle, else the extract file named by its header row")
    load.add_argument("--dry-run", action="store_true", help="validate and count without writing")
    load.add_argument("--atomic", action="store_true",
                      help="all or nothing: one transaction, rolled back (exit status 2) if any line is rejected; "
                           "without it, rejected lines are left out and the rest is imported")
    load.add_argument("--accept-truncated", action="store_true",
                      help="import a file whose last line is cut short (refused by default: the cut line would "
                           "replace its professional's rows with fewer)")
    load.add_argument("--prune", action="store_true",
                      help="the file is a full Personne_activite extract: mark inactive (not delete) the "
                           "professionals it no longer lists; refused for a damaged or partial file")
    load.add_argument("--prune-max-rejects", type=float, default=MAX_REJECT_SHARE, metavar="SHARE",
                      help=f"refuse to prune above this share of rejected lines (default {MAX_REJECT_SHARE})")
    load.add_argument("--prune-max-share", type=float, default=MAX_PRUNE_SHARE, metavar="SHARE",
                      help="refuse to prune more than this share of the active professionals "
                           f"(default {MAX_PRUNE_SHARE})")
    load.add_argument("--rejects", type=Path, help="CSV of rejected lines (default: FILE.rejects.csv)")
    load.add_argument("--batch", type=int, default=10_000, help="lines per transaction")


async def run_directory(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"error: {path} is not a file", file=sys.stderr)
        return 2
    rejects_path: Path = args.rejects or path.with_name(path.name + ".rejects.csv")
    kind = args.format if args.format != "auto" else sniff_format(path)
    if kind == "rpps" and args.format == "auto":
        kind = sniff_extract(path)
    if args.prune and kind != "rpps":
        print("error: --prune applies to a full PS_LibreAcces_Personne_activite extract only", file=sys.stderr)
        return 2
    status = 0
    async with open_database(settings.database_url) as (engine, sessions):
        await upgrade(engine)
        routable_before = await routable_specialties(engine)
        with rejects_path.open("w", encoding="utf-8", newline="") as stream, _progress(path) as bar:
            rejects = RejectFile(stream)

            def advance(done: int) -> None:
                bar.update(done)

            report: ImportReport | ListImportReport
            try:
                if kind == "fhir":
                    report = await import_fhir_bundle(engine, path, now=SystemClock().now(), rejects=rejects,
                                                      dry_run=args.dry_run, atomic=args.atomic)
                elif kind in (SAVOIR_FAIRE.kind, DIPLOMAS.kind):
                    fmt = SAVOIR_FAIRE if kind == SAVOIR_FAIRE.kind else DIPLOMAS
                    report = await import_list(engine, path, fmt, rejects=rejects, dry_run=args.dry_run,
                                               batch_lines=max(args.batch, 1), progress=advance,
                                               atomic=args.atomic, accept_truncated=args.accept_truncated)
                else:
                    with batch_job_gc() as collect_young:
                        def progress(nbytes: int) -> None:  # called once per batch read
                            bar.update(nbytes)
                            collect_young()

                        report = await import_rpps(engine, path, now=SystemClock().now(), rejects=rejects,
                                                   dry_run=args.dry_run, batch_lines=max(args.batch, 1),
                                                   progress=progress, atomic=args.atomic,
                                                   accept_truncated=args.accept_truncated)
            except ImportRefused as exc:
                print(f"error: {exc.message} (nothing was written)", file=sys.stderr)
                if rejects.count:
                    print(f"rejected lines (line number, reason): {rejects_path}", file=sys.stderr)
                return 2
            except DirectoryError as exc:
                print(f"error: {exc.message}", file=sys.stderr)
                await _audit_routing(engine, sessions, routable_before)
                return 1
        print(report.summary())
        if kind == "rpps":
            status = await _prune(engine, path, args, lines=report.lines, rejected=report.rejected)
        await _audit_routing(engine, sessions, routable_before)
    if report.rejected:
        print(f"rejected lines (line number, reason): {rejects_path}")
    else:
        rejects_path.unlink(missing_ok=True)
    return status


async def _prune(engine: AsyncEngine, path: Path, args: argparse.Namespace, *, lines: int, rejected: int) -> int:
    """After an activity import: prune if asked (or say why not); otherwise reactivate professionals listed again."""
    if not args.prune:
        if not args.dry_run and await has_inactive(engine):
            plan = await plan_prune(engine, path)
            await apply_prune(engine, plan, SystemClock().now(), deactivate=False)
            if plan.reactivate:
                print(f"{len(plan.reactivate)} inactive professionals listed again were reactivated")
        return 0
    plan = await plan_prune(engine, path)
    refusal = prune_refusal(plan, lines=lines, rejected=rejected, max_reject_share=args.prune_max_rejects,
                            max_prune_share=args.prune_max_share)
    if refusal:
        verb = "would refuse to prune" if args.dry_run else "not pruned"
        print(f"error: {verb}: {refusal}", file=sys.stderr)
        return 1
    if not args.dry_run:
        await apply_prune(engine, plan, SystemClock().now())
    print(plan.summary(dry_run=args.dry_run))
    return 0


async def _audit_routing(engine: AsyncEngine, sessions: SessionFactory, before: dict[str, frozenset[str]]) -> None:
    """Audit every professional the import made routable (or no longer routable) for a specialty: who ran it,
    the RPPS, the routable specialties before and after. The operator sees them too."""
    changes = routing_changes(before, await routable_specialties(engine))
    if not changes:
        return
    audit, actor = AuditLog(sessions, SystemClock()), f"cli:{_operator()}"
    for change in changes:
        await audit.record(AuditEvent(actor, "operator", "directory.routing.change", change.describe(), "ok"))
        gained = f" (newly routable for {', '.join(change.gained)})" if change.gained else ""
        print(f"routing changed: {change.describe()}{gained}")
    print(f"{len(changes)} professional(s) changed routable specialties; each change is in the audit log")


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (containers)
        return "unknown"


def _progress(path: Path) -> tqdm:  # type: ignore[type-arg]
    # disable=None: the bar (bytes, rate, ETA) shows only when stderr is a terminal.
    return tqdm(total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024, desc=path.name,
                file=sys.stderr, disable=None, smoothing=0.1)
