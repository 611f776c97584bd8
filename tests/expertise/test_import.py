"""Import of the RPPS extract on SQLite and PostgreSQL: idempotence, updates, bad input, encodings, dry run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from expertise import ImportRefused, RejectFile, import_rpps
from expertise.models import Activity, Professional
from expertise.rpps_format import STANDARD_HEADER

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = DATA / "PS_LibreAcces_Personne_activite_202612010000.txt"
BAD = DATA / "PS_LibreAcces_Personne_activite_bad.txt"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def expected(path: Path, encoding: str = "utf-8") -> tuple[set[str], int]:
    """Distinct RPPS identifiers and line count, read independently of the importer."""
    rows = path.read_text(encoding).splitlines()[1:]
    column = STANDARD_HEADER.index("Identifiant PP")
    return {row.split("|")[column] for row in rows}, len(rows)


async def run(engine: Any, path: Path, **options: Any) -> tuple[Any, list[list[str]]]:
    out = io.StringIO()
    report = await import_rpps(engine, path, now=NOW, rejects=RejectFile(out), **options)
    return report, list(csv.reader(io.StringIO(out.getvalue())))[1:]


async def stored(sessions: Any) -> tuple[int, int]:
    async with sessions() as session:
        people = await session.scalar(select(func.count()).select_from(Professional))
        activities = await session.scalar(select(func.count()).select_from(Activity))
    return int(people or 0), int(activities or 0)


async def test_sample_imports_and_a_reimport_is_all_unchanged(db: Any) -> None:
    engine, sessions = db
    identifiers, lines = expected(SAMPLE)
    first, rejected = await run(engine, SAMPLE)
    assert rejected == []
    assert (first.inserted, first.updated, first.unchanged, first.activities) == (len(identifiers), 0, 0, lines)
    assert first.lines == lines and first.encoding == "utf-8"
    assert await stored(sessions) == (len(identifiers), lines)
    again, _ = await run(engine, SAMPLE)
    assert (again.inserted, again.updated, again.unchanged, again.activities) == (0, 0, len(identifiers), 0)
    assert await stored(sessions) == (len(identifiers), lines)


async def test_a_changed_line_updates_only_its_professional(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    await run(engine, SAMPLE)
    rows = SAMPLE.read_text("utf-8").splitlines(keepends=True)
    phone = STANDARD_HEADER.index("Téléphone (coord. structure)")
    fields = rows[5].split("|")
    fields[phone] = "0102030405"
    rows[5] = "|".join(fields)
    changed = tmp_path / "changed.txt"
    changed.write_text("".join(rows), "utf-8")
    rpps = fields[1]
    identifiers, lines = expected(changed)
    report, _ = await run(engine, changed)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, len(identifiers) - 1)
    assert await stored(sessions) == (len(identifiers), lines)
    async with sessions() as session:
        phones = (await session.scalars(select(Activity.phone).where(Activity.rpps == rpps))).all()
    assert "0102030405" in phones


async def test_bad_lines_are_rejected_with_reasons_and_the_rest_imports(db: Any) -> None:
    engine, sessions = db
    report, rejected = await run(engine, BAD, accept_truncated=True)  # its last line is cut on purpose
    reasons = {int(line): reason for line, reason, _ in rejected}
    assert sorted(reasons) == [3, 4, 5, 7, 8, 9, 10, 12, 13]
    assert "11 digits" in reasons[3] and "11 digits" in reasons[4]
    assert "expected 56 fields, found 58" in reasons[5]
    assert "duplicate line" in reasons[7] and "line 2" in reasons[7]
    assert "duplicate identifier" in reasons[8] and "different identity" in reasons[8]
    assert "invalid INSEE commune code 'ABCDE'" in reasons[9]
    assert "not RPPS" in reasons[10]
    assert "truncated last line" in reasons[13]
    assert (report.inserted, report.rejected, report.lines) == (3, 9, 12)
    async with sessions() as session:
        people = {p.rpps: p for p in await session.scalars(select(Professional))}
        corsica = await session.scalar(select(Activity).where(Activity.rpps == "10100000006"))
    assert sorted(people) == ["10100000001", "10100000003", "10100000006"]
    # Cells that look like spreadsheet formulas are data: stored exactly as given.
    assert people["10100000003"].family_name == '=HYPERLINK("http://x")'
    assert people["10100000003"].given_name == "+Léa"
    assert people["10100000006"].family_name == "@dmin"
    assert corsica is not None and (corsica.commune, corsica.departement) == ("2A004", "2A")
    # ...and neutralised in the CSV reject file.
    content_12 = next(content for line, _, content in rejected if line == "12")
    assert content_12.startswith("'=1+2|")


async def test_dry_run_counts_but_writes_nothing(db: Any) -> None:
    engine, sessions = db
    identifiers, lines = expected(SAMPLE)
    report, _ = await run(engine, SAMPLE, dry_run=True)
    assert (report.inserted, report.activities, report.dry_run) == (len(identifiers), lines, True)
    assert "nothing written" in report.summary()
    assert await stored(sessions) == (0, 0)
    bad, rejected = await run(engine, BAD, dry_run=True, accept_truncated=True)
    assert bad.rejected == 9 and len(rejected) == 9
    assert await stored(sessions) == (0, 0)


@pytest.mark.parametrize(("encoding", "detected"), [("utf-8-sig", "utf-8-sig"), ("latin-1", "latin-1"),
                                                    ("cp1252", "latin-1")])
async def test_encodings_are_detected(db: Any, tmp_path: Path, encoding: str, detected: str) -> None:
    engine, sessions = db
    copy = tmp_path / "extract.txt"
    copy.write_bytes(SAMPLE.read_text("utf-8").encode(encoding))
    report, rejected = await run(engine, copy)
    # No Windows-only character in the sample: cp1252 bytes are the Latin-1 ones, either decodes them right.
    assert rejected == [] and report.encoding in (detected, "cp1252")
    family = STANDARD_HEADER.index("Nom d'exercice")
    names = {row.split("|")[family] for row in SAMPLE.read_text("utf-8").splitlines()[1:]}
    assert any(not name.isascii() for name in names)
    async with sessions() as session:
        assert set((await session.scalars(select(Professional.family_name))).all()) == names


async def test_windows_1252_punctuation_is_decoded(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    rows = SAMPLE.read_text("utf-8").splitlines(keepends=True)
    family = STANDARD_HEADER.index("Nom d'exercice")
    fields = rows[1].split("|")
    fields[family] = "D\u2019Artagnan–Œuvre"
    rows[1] = "|".join(fields)
    copy = tmp_path / "cp1252.txt"
    copy.write_bytes("".join(rows).encode("cp1252"))
    report, rejected = await run(engine, copy)
    assert report.encoding == "cp1252" and rejected == []
    async with sessions() as session:
        assert await session.scalar(select(Professional.family_name).where(Professional.rpps == fields[1])) \
            == "D\u2019Artagnan–Œuvre"


async def test_utf16_and_missing_columns_are_refused_before_writing(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(SAMPLE.read_text("utf-8").encode("utf-16"))
    with pytest.raises(ImportRefused, match="UTF-16"):
        await run(engine, utf16)
    rows = SAMPLE.read_text("utf-8").splitlines(keepends=True)
    rows[0] = rows[0].replace("Code commune (coord. structure)", "Commune").replace("Nom d'exercice", "Nom")
    headless = tmp_path / "missing.txt"
    headless.write_text("".join(rows), "utf-8")
    with pytest.raises(ImportRefused, match="Nom d'exercice.*Code commune"):
        await run(engine, headless)
    assert await stored(sessions) == (0, 0)


async def test_an_invalid_byte_rejects_its_line_only(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    raw = SAMPLE.read_bytes().split(b"\n")
    raw[3] = raw[3].replace(b"|Commune ", b"|Commune \xff", 1)
    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"\n".join(raw))
    identifiers, lines = expected(SAMPLE)
    report, rejected = await run(engine, broken)
    assert [(r[0], "not valid utf-8" in r[1]) for r in rejected] == [("4", True)]
    assert report.activities == lines - 1


async def test_columns_are_found_by_name_in_any_order_without_trailing_pipe(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    rows = [r.removesuffix("|").split("|") for r in SAMPLE.read_text("utf-8").splitlines()]
    order = list(reversed(range(len(rows[0]))))
    shuffled = tmp_path / "reordered.txt"
    shuffled.write_text("".join("|".join(row[i] for i in order) + "\r\n" for row in rows), "utf-8")
    identifiers, lines = expected(SAMPLE)
    report, rejected = await run(engine, shuffled)
    assert rejected == [] and (report.inserted, report.activities) == (len(identifiers), lines)


async def test_lines_of_one_professional_split_across_batches(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    rows = SAMPLE.read_text("utf-8").splitlines(keepends=True)
    column = STANDARD_HEADER.index("Identifiant PP")
    counts: dict[str, int] = {}
    for row in rows[1:]:
        counts[row.split("|")[column]] = counts.get(row.split("|")[column], 0) + 1
    several = next(r for r, n in counts.items() if n >= 3)
    theirs = [r for r in rows[1:] if r.split("|")[column] == several]
    others = [r for r in rows[1:] if r.split("|")[column] != several]
    # One of their lines at the top, the others at the very end: far apart, in different batches.
    scattered = tmp_path / "scattered.txt"
    scattered.write_text(rows[0] + theirs[0] + "".join(others) + "".join(theirs[1:]), "utf-8")
    identifiers, lines = expected(SAMPLE)
    for _ in range(2):
        report, rejected = await run(engine, scattered, batch_lines=3)
        assert rejected == []
        assert await stored(sessions) == (len(identifiers), lines)
    async with sessions() as session:
        mine = await session.scalar(select(func.count()).select_from(Activity).where(Activity.rpps == several))
    assert mine == len(theirs)

