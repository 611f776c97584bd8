"""``lucarne directory import FILE``: the RPPS extract or a FHIR R4 Bundle into the professional directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from expertise import DirectoryError, ImportRefused, RejectFile, import_fhir_bundle, import_rpps, sniff_format

from .clock import SystemClock
from .config import Settings
from .db import open_database
from .migrate import upgrade
from .runtime import batch_job_gc

__all__ = ["add_directory_parser", "run_directory"]


def add_directory_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    directory = sub.add_parser("directory", help="professional directory tools")
    directory_sub = directory.add_subparsers(dest="directory_command", required=True)
    load = directory_sub.add_parser("import", help="import a PS_LibreAcces_Personne_activite extract or a FHIR "
                                                   "R4 Bundle (upsert by RPPS: re-importing is idempotent)")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=("auto", "rpps", "fhir"), default="auto")
    load.add_argument("--dry-run", action="store_true", help="validate and count without writing")
    load.add_argument("--rejects", type=Path, help="CSV of rejected lines (default: FILE.rejects.csv)")
    load.add_argument("--batch", type=int, default=10_000, help="lines per transaction")


async def run_directory(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"error: {path} is not a file", file=sys.stderr)
        return 2
    rejects_path: Path = args.rejects or path.with_name(path.name + ".rejects.csv")
    kind = args.format if args.format != "auto" else sniff_format(path)
    async with open_database(settings.database_url) as (engine, _):
        await upgrade(engine)
        with rejects_path.open("w", encoding="utf-8", newline="") as stream, _progress(path) as bar:
            rejects = RejectFile(stream)
            try:
                if kind == "fhir":
                    report = await import_fhir_bundle(engine, path, now=SystemClock().now(), rejects=rejects,
                                                      dry_run=args.dry_run)
                else:
                    with batch_job_gc() as collect_young:
                        def progress(nbytes: int) -> None:  # called once per batch read
                            bar.update(nbytes)
                            collect_young()

                        report = await import_rpps(engine, path, now=SystemClock().now(), rejects=rejects,
                                                   dry_run=args.dry_run, batch_lines=max(args.batch, 1),
                                                   progress=progress)
            except ImportRefused as exc:
                print(f"error: {exc.message} (nothing was written)", file=sys.stderr)
                return 2
            except DirectoryError as exc:
                print(f"error: {exc.message}", file=sys.stderr)
                return 1
    print(report.summary())
    if report.rejected:
        print(f"rejected lines (line number, reason): {rejects_path}")
    else:
        rejects_path.unlink(missing_ok=True)
    return 0


def _progress(path: Path) -> tqdm:  # type: ignore[type-arg]
    # disable=None: the bar (bytes, rate, ETA) shows only when stderr is a terminal.
    return tqdm(total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024, desc=path.name,
                file=sys.stderr, disable=None, smoothing=0.1)
