"""Directory imports that must not half-apply: truncated extracts, ``--atomic``, and audited routing changes.

Small extracts are built in each test from the sample files in ``tests/data``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from expertise import DIPLOMAS, SAVOIR_FAIRE, ImportRefused, RejectFile, import_list, import_rpps
from expertise.models import Activity, Professional, Profile, ProfileSpecialty, SavoirFaire
from server.platform.models import AuditEntry
from tests.expertise.test_import import NOW, SAMPLE
from tests.server.expertise.test_directory_cli import lucarne

DATA = Path(__file__).resolve().parents[1] / "data"
SF = DATA / "PS_LibreAcces_SavoirFaire_202612010000.txt"
DIPL = DATA / "PS_LibreAcces_Dipl_AutExerc_202612010000.txt"


def _lines(path: Path) -> tuple[str, list[str]]:
    header, *rows = path.read_text("utf-8").splitlines()
    return header, rows


def _rpps_of(row: str) -> str:
    return row.split("|")[1]


def _cut_copy(tmp_path: Path, source: Path, rows: int | None = None) -> tuple[Path, str]:
    """``source``'s first ``rows`` lines, the last one cut in the middle (an interrupted download)."""
    header, lines = _lines(source)
    kept = lines[:rows] if rows else lines
    last = kept[-1]
    cut = last[: len(last) // 2]
    path = tmp_path / source.name.replace("2026", "cut2026")
    path.write_text("\n".join([header, *kept[:-1], cut]), "utf-8")
    return path, _rpps_of(last)


async def _activities(sessions: Any, rpps: str | None = None) -> int:
    query = select(func.count()).select_from(Activity)
    if rpps:
        query = query.where(Activity.rpps == rpps)
    async with sessions() as session:
        return int(await session.scalar(query) or 0)


async def _professionals(sessions: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Professional)) or 0)


def _rejects() -> RejectFile:
    return RejectFile(io.StringIO())


async def test_a_truncated_extract_is_refused_before_anything_is_written(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    await import_rpps(engine, SAMPLE, now=NOW, rejects=_rejects())
    total = await _activities(sessions)
    header, lines = _lines(SAMPLE)
    # A professional with several lines: re-sent with their last line cut, plus a changed first line.
    counts: dict[str, int] = {}
    for row in lines:
        counts[_rpps_of(row)] = counts.get(_rpps_of(row), 0) + 1
    rpps = next(r for r, n in counts.items() if n >= 2)
    theirs = [row for row in lines if _rpps_of(row) == rpps]
    changed = theirs[0].replace("|France|", "|France |")
    cut = tmp_path / "PS_LibreAcces_Personne_activite_cut.txt"
    cut.write_text("\n".join([header, changed, *theirs[1:-1], theirs[-1][:40]]), "utf-8")
    with pytest.raises(ImportRefused, match="truncated"):
        await import_rpps(engine, cut, now=NOW, rejects=_rejects())
    assert await _activities(sessions, rpps) == counts[rpps] and await _activities(sessions) == total
    # Accepted on purpose: the cut line is rejected (and the professional then has fewer lines).
    out = io.StringIO()
    report = await import_rpps(engine, cut, now=NOW, rejects=RejectFile(out), accept_truncated=True)
    assert report.rejected == 1 and "truncated last line" in out.getvalue()
    assert await _activities(sessions, rpps) == counts[rpps] - 1


async def test_a_complete_file_without_a_final_newline_is_not_truncated(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    no_newline = tmp_path / "PS_LibreAcces_Personne_activite_nonl.txt"
    no_newline.write_text(SAMPLE.read_text("utf-8").rstrip("\n"), "utf-8")
    report = await import_rpps(engine, no_newline, now=NOW, rejects=_rejects())
    assert report.rejected == 0 and await _activities(sessions) == len(_lines(SAMPLE)[1])


@pytest.mark.parametrize("source, fmt", [(SF, SAVOIR_FAIRE), (DIPL, DIPLOMAS)], ids=["savoirfaire", "diplomas"])
async def test_a_truncated_list_extract_is_refused_too(db: Any, tmp_path: Path, source: Path, fmt: Any) -> None:
    engine, sessions = db
    await import_rpps(engine, SAMPLE, now=NOW, rejects=_rejects())
    cut, _ = _cut_copy(tmp_path, source)
    with pytest.raises(ImportRefused, match="truncated"):
        await import_list(engine, cut, fmt, rejects=_rejects())
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(fmt.table)) == 0
    report = await import_list(engine, cut, fmt, rejects=_rejects(), accept_truncated=True)
    assert report.rejected >= 1


def _with_bad_line(tmp_path: Path) -> Path:
    header, lines = _lines(SAMPLE)
    bad = lines[3].replace(_rpps_of(lines[3]), "123", 1)  # an RPPS of 3 digits
    path = tmp_path / "PS_LibreAcces_Personne_activite_onebad.txt"
    path.write_text("\n".join([header, *lines[:3], bad, *lines[4:]]) + "\n", "utf-8")
    return path


async def test_atomic_writes_nothing_when_a_line_is_rejected(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    path = _with_bad_line(tmp_path)
    with pytest.raises(ImportRefused, match="1 line"):
        await import_rpps(engine, path, now=NOW, rejects=_rejects(), atomic=True, batch_lines=3)
    assert await _professionals(sessions) == 0 and await _activities(sessions) == 0
    partly = await import_rpps(engine, path, now=NOW, rejects=_rejects(), batch_lines=3)
    assert partly.rejected == 1 and "partly applied" in partly.summary() and "--atomic" in partly.summary()
    clean = await import_rpps(engine, SAMPLE, now=NOW, rejects=_rejects(), atomic=True)
    assert clean.rejected == 0 and "partly" not in clean.summary()
    assert await _activities(sessions) == len(_lines(SAMPLE)[1])


async def test_atomic_list_import_writes_nothing_when_a_line_is_rejected(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    await import_rpps(engine, SAMPLE, now=NOW, rejects=_rejects())
    header, lines = _lines(SF)
    path = tmp_path / "PS_LibreAcces_SavoirFaire_onebad.txt"
    path.write_text("\n".join([header, *lines, lines[0].replace(_rpps_of(lines[0]), "99999999999")]) + "\n", "utf-8")
    with pytest.raises(ImportRefused, match="rolled back"):
        await import_list(engine, path, SAVOIR_FAIRE, rejects=_rejects(), atomic=True, batch_lines=2)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SavoirFaire)) == 0


async def test_the_command_refuses_truncated_and_rejected_files_with_a_non_zero_status(
        db: Any, database_url: str, tmp_path: Path) -> None:
    _, sessions = db
    cut, _ = _cut_copy(tmp_path, SAMPLE)
    refused = lucarne(["directory", "import", str(cut)], database_url, tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "truncated" in refused.stderr and "nothing was written" in refused.stderr
    assert "--accept-truncated" in refused.stderr
    assert await _professionals(sessions) == 0
    atomic = lucarne(["directory", "import", str(_with_bad_line(tmp_path)), "--atomic"], database_url, tmp_path)
    assert atomic.returncode == 2 and "rolled back" in atomic.stderr and "rejects.csv" in atomic.stderr
    assert await _professionals(sessions) == 0
    partly = lucarne(["directory", "import", str(_with_bad_line(tmp_path))], database_url, tmp_path)
    assert partly.returncode == 0 and "partly applied" in partly.stdout


async def test_an_import_that_makes_a_gp_routable_as_a_dermatologist_is_audited(
        db: Any, database_url: str, tmp_path: Path) -> None:
    engine, sessions = db
    await import_rpps(engine, SAMPLE, now=NOW, rejects=_rejects())
    header, lines = _lines(SF)
    derm = next(row for row in lines if "|SM15|" in row)
    # A GP (médecine générale, SM54) with no savoir-faire whose profile accepts dermatology: not routable for it.
    async with sessions() as session:
        gp = await session.scalar(select(Professional).where(
            Professional.rpps.not_in([_rpps_of(row) for row in lines]),
            Professional.rpps.in_(select(Activity.rpps).where(Activity.specialty_code == "SM54"))).limit(1))
        assert gp is not None
        rpps, family, given = gp.rpps, gp.family_name, gp.given_name
    async with sessions.begin() as session:
        session.add(Profile(rpps=rpps, capacity=3, updated_at=NOW))
        await session.flush()
        session.add(ProfileSpecialty(rpps=rpps, specialty="SM15"))
    cells = derm.split("|")
    cells[1], cells[2], cells[3], cells[4] = rpps, "8" + rpps, family, given
    path = tmp_path / "PS_LibreAcces_SavoirFaire_202612020000.txt"
    path.write_text("\n".join([header, "|".join(cells)]) + "\n", "utf-8")
    result = lucarne(["directory", "import", str(path)], database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"rpps:{rpps} routable - -> SM15" in result.stdout and "newly routable for SM15" in result.stdout
    async with sessions() as session:
        entries = list(await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "directory.routing.change")))
    assert [(e.object, e.role, e.result) for e in entries] == [(f"rpps:{rpps} routable - -> SM15", "operator", "ok")]
    assert entries[0].actor.startswith("cli:")
    again = lucarne(["directory", "import", str(path)], database_url, tmp_path)  # unchanged: nothing new to audit
    assert again.returncode == 0 and "routing changed" not in again.stdout
