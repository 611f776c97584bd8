"""Import of the SavoirFaire and Dipl_AutExerc extract files (SQLite and PostgreSQL), and savoir-faire routing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from expertise import (
    DIPLOMAS,
    SAVOIR_FAIRE,
    Directory,
    ImportRefused,
    InvalidProfile,
    Profiles,
    ProfileUpdate,
    RejectFile,
    import_list,
    import_rpps,
    sniff_extract,
)
from expertise.models import Diploma, SavoirFaire

DATA = Path(__file__).resolve().parents[1] / "data"
ACTIVITIES = DATA / "PS_LibreAcces_Personne_activite_202612010000.txt"
SF = DATA / "PS_LibreAcces_SavoirFaire_202612010000.txt"
DIPL = DATA / "PS_LibreAcces_Dipl_AutExerc_202612010000.txt"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


async def run(engine: Any, path: Path, fmt: Any = SAVOIR_FAIRE, **options: Any) -> tuple[Any, list[list[str]]]:
    out = io.StringIO()
    report = await import_list(engine, path, fmt, rejects=RejectFile(out), **options)
    return report, list(csv.reader(io.StringIO(out.getvalue())))[1:]


async def with_activities(engine: Any) -> None:
    await import_rpps(engine, ACTIVITIES, now=NOW, rejects=RejectFile(io.StringIO()))


def people_and_lines(path: Path) -> tuple[set[str], list[list[str]]]:
    """Independent reading of a sample: RPPS identifiers and the cells of each line."""
    rows = [line.split("|") for line in path.read_text("utf-8").splitlines()[1:]]
    return {row[1] for row in rows}, rows


async def savoir_faire(sessions: Any) -> set[tuple[str, str, str, str]]:
    async with sessions() as session:
        rows = await session.execute(select(SavoirFaire.rpps, SavoirFaire.type_code, SavoirFaire.code,
                                            SavoirFaire.label))
        return {tuple(r) for r in rows.all()}  # type: ignore[misc]


def test_the_file_kind_is_found_from_the_header() -> None:
    assert sniff_extract(SF) == "savoirfaire"
    assert sniff_extract(DIPL) == "diplomas"
    assert sniff_extract(ACTIVITIES) == "rpps"


async def test_savoir_faire_imports_and_a_reimport_is_all_unchanged(db: Any) -> None:
    engine, sessions = db
    await with_activities(engine)
    people, rows = people_and_lines(SF)
    report, rejected = await run(engine, SF)
    assert rejected == []
    assert (report.inserted, report.updated, report.unchanged, report.rows) == (len(people), 0, 0, len(rows))
    assert report.lines == len(rows) and report.encoding == "utf-8"
    assert await savoir_faire(sessions) == {(r[1], r[9], r[11], r[12]) for r in rows}
    again, _ = await run(engine, SF)
    assert (again.inserted, again.updated, again.unchanged, again.rows) == (0, 0, len(people), 0)
    assert "unchanged 7" in again.summary() and "0 savoir-faire rows written" in again.summary()


async def test_a_changed_or_removed_savoir_faire_updates_only_that_professional(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    await with_activities(engine)
    await run(engine, SF)
    lines = SF.read_text("utf-8").splitlines(keepends=True)
    # 10000000028 loses its sports-medicine competence; 10000000112's angiology label changes.
    kept = [line for line in lines if "|C90|" not in line]
    kept = [line.replace("Angiologie (synthétique)", "Angiologie et médecine vasculaire") for line in kept]
    changed = tmp_path / "PS_LibreAcces_SavoirFaire_202612020000.txt"
    changed.write_text("".join(kept), "utf-8")
    report, _ = await run(engine, changed)
    assert (report.inserted, report.updated, report.unchanged) == (0, 2, 5)
    stored = await savoir_faire(sessions)
    assert not any(code == "C90" for _, _, code, _ in stored)
    assert ("10000000112", "CEX", "CEX90", "Angiologie et médecine vasculaire") in stored
    assert ("10000000028", "CAPA", "CAPA90", "Gérontologie (synthétique)") in stored


async def test_dry_run_counts_but_writes_nothing(db: Any) -> None:
    engine, sessions = db
    await with_activities(engine)
    report, _ = await run(engine, SF, dry_run=True)
    assert report.dry_run and report.inserted == 7 and "would be inserted 7" in report.summary()
    assert await savoir_faire(sessions) == set()


async def test_diplomas_keep_their_order_and_reimport_idempotently(db: Any) -> None:
    engine, sessions = db
    await with_activities(engine)
    people, rows = people_and_lines(DIPL)
    report, rejected = await run(engine, DIPL, DIPLOMAS)
    assert rejected == []
    assert (report.inserted, report.rows) == (len(people), len(rows))
    async with sessions() as session:
        stored = (await session.execute(select(Diploma.rpps, Diploma.position, Diploma.diploma_code,
                                               Diploma.authorisation_type_code, Diploma.discipline)
                                        .order_by(Diploma.rpps, Diploma.position))).all()
    assert [tuple(r) for r in stored if r[0] == "10000000027"] == [
        ("10000000027", 0, "DE01", "", ""), ("10000000027", 1, "DES15", "", "")]
    assert ("10000000071", 0, "", "PLEIN", "Gynécologie-obstétrique (synthétique)") in [tuple(r) for r in stored]
    again, _ = await run(engine, DIPL, DIPLOMAS)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(people))


async def test_bad_lines_are_rejected_with_reasons_and_the_rest_imports(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    await with_activities(engine)
    header, *lines = SF.read_text("utf-8").splitlines()
    good = lines[1]  # 10000000027 SM15
    bad = [
        good.replace("10000000027|810000000027", "99999999999|899999999999"),      # 2: not in the directory
        good.replace("10000000027|810000000027", "1000000002|81000000002"),        # 3: 10 digits
        good.replace("|810000000027|", "|810000000099|"),                           # 4: national id mismatch
        good.replace("|SM15|", "||"),                                               # 5: empty code
        good + "extra|",                                                            # 6: one field too many
        good.replace("|Durand|", "|Autre|"),                                        # 7: other family name
        good,                                                                       # 8: the valid line
        good.replace("Dermatologie et vénéréologie", "Dermatologie"),               # 9: duplicate type + code
        "0|" + good.split("|", 1)[1],                                               # 10: not an RPPS identifier
        "8|10000000037|810000000037|Bonnet|Lucas|10|Médecin|C|Civil|S|Spécialité",  # 11: truncated last line
    ]
    path = tmp_path / "PS_LibreAcces_SavoirFaire_bad.txt"
    path.write_text("\n".join([header, *bad]), "utf-8")  # no end of line after the last one
    report, rejected = await run(engine, path, accept_truncated=True)
    reasons = {int(line): reason for line, reason, _ in rejected}
    assert set(reasons) == {2, 3, 4, 5, 6, 7, 9, 10, 11}
    assert "not in the directory" in reasons[2] and "Personne_activite" in reasons[2]
    assert "11 digits" in reasons[3]
    assert "national identifier" in reasons[4]
    assert "empty 'code'" in reasons[5]
    assert "expected 13 fields" in reasons[6]
    assert "differs from the directory" in reasons[7]
    assert "duplicate line" in reasons[9] and "line 8" in reasons[9]
    assert "not RPPS" in reasons[10]
    assert "truncated last line" in reasons[11]
    assert report.rejected == 9 and report.inserted == 1 and report.lines == 10
    assert await savoir_faire(sessions) == {("10000000027", "S", "SM15", "Dermatologie et vénéréologie")}


async def test_columns_by_name_in_any_order_and_latin1(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    await with_activities(engine)
    rows = [line.rstrip("|").split("|") for line in SF.read_text("utf-8").splitlines()]
    order = list(reversed(range(len(rows[0]))))
    path = tmp_path / "reordered.txt"
    path.write_text("\r\n".join("|".join(row[i] for i in order) for row in rows) + "\r\n", "latin-1")
    report, rejected = await run(engine, path)
    assert rejected == [] and report.encoding == "cp1252" and report.inserted == 7
    assert ("10000000027", "DNQ", "DNQ90", "Dermatopathologie (synthétique)") in await savoir_faire(sessions)


async def test_a_file_without_the_required_columns_is_refused(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    path = tmp_path / "wrong.txt"
    path.write_text("Identifiant PP|Code type savoir-faire|Libellé savoir-faire\n10000000027|S|x\n", "utf-8")
    with pytest.raises(ImportRefused, match="Code savoir-faire"):
        await run(engine, path)
    with pytest.raises(ImportRefused, match="Identifiant PP"):
        await run(engine, _write(tmp_path / "d.txt", "Nom d'exercice|a\n"), DIPLOMAS)
    assert await savoir_faire(sessions) == set()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize("pool_ttl", [0.0, 60.0], ids=["sql", "pooled"])
async def test_a_savoir_faire_from_the_file_can_be_accepted_and_is_routed(db: Any, pool_ttl: float) -> None:
    """CAPA90 is on no activity line, only in the savoir-faire file: once imported, the professional may accept
    it and is routed for it from their practice sites."""
    engine, sessions = db
    await with_activities(engine)
    profiles, directory = Profiles(sessions), Directory(sessions, pool_ttl=pool_ttl)
    geriatrician = "10000000037"  # practises in 67177 (Bas-Rhin)
    with pytest.raises(InvalidProfile, match="CAPA90"):
        await profiles.update(geriatrician, ProfileUpdate(3, ("fr",), ("CAPA90",)), NOW)
    await run(engine, SF)
    view = await profiles.get(geriatrician, NOW)
    assert ("CAPA90", "Gérontologie (synthétique)") in view.held_specialties and ("SM19", "Gériatrie") in \
        view.held_specialties
    await profiles.update(geriatrician, ProfileUpdate(3, ("fr",), ("CAPA90",)), NOW)
    await profiles.update("10000000028", ProfileUpdate(3, ("fr",), ("CAPA90", "SM53")), NOW)  # GP, 59330 (Nord)
    found = await directory.candidates("CAPA90", "67482", NOW)  # a request from Strasbourg
    assert [(c.rpps, c.departement, c.proximity) for c in found] == [(geriatrician, "67", 1), ("10000000028", "59", 4)]
    # The specialty on the activity line still routes as before, and does not leak to another code.
    assert [c.rpps for c in await directory.candidates("SM53", "59350", NOW)] == ["10000000028"]
    assert await directory.candidates("SM19", "67482", NOW) == []  # the geriatrician accepts only CAPA90


async def test_the_command_recognises_both_files_from_their_header(db: Any, database_url: str, tmp_path: Path) -> None:
    from tests.server.expertise.test_directory_cli import lucarne

    _, sessions = db
    assert lucarne(["directory", "import", str(ACTIVITIES)], database_url, tmp_path).returncode == 0
    dry = lucarne(["directory", "import", str(SF), "--dry-run"], database_url, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would be inserted 7" in dry.stdout and "12 savoir-faire rows would be written" in dry.stdout
    assert await savoir_faire(sessions) == set()
    done = lucarne(["directory", "import", str(SF)], database_url, tmp_path)
    assert done.returncode == 0 and "inserted 7" in done.stdout and "0 lines rejected" in done.stdout
    diplomas = lucarne(["directory", "import", str(DIPL)], database_url, tmp_path)
    assert diplomas.returncode == 0 and "7 diploma/authorisation rows written" in diplomas.stdout
    wrong = tmp_path / "PS_LibreAcces_SavoirFaire_wrong.txt"
    wrong.write_text("Identifiant PP|Code type savoir-faire\n10000000027|S\n", "utf-8")
    refused = lucarne(["directory", "import", str(wrong), "--format", "savoirfaire"], database_url, tmp_path)
    assert refused.returncode == 2 and "Code savoir-faire" in refused.stderr and "nothing was written" in refused.stderr


async def test_practitioner_resource_lists_savoir_faire_and_diplomas_as_valid_fhir(db: Any) -> None:
    from fhir.resources.R4B.practitioner import Practitioner

    from expertise import DirectoryFhir

    engine, sessions = db
    await with_activities(engine)
    await run(engine, SF)
    await run(engine, DIPL, DIPLOMAS)
    resource = await DirectoryFhir(sessions).practitioner("10000000027")
    assert resource is not None
    Practitioner.model_validate(resource)
    codes = [(q["code"]["coding"][0]["system"], q["code"]["coding"][0]["code"]) for q in resource["qualification"]]
    assert codes.count(next(c for c in codes if c[1] == "SM15")) == 1  # on the activity line and in the file: once
    assert ("urn:lucarne:rpps:savoir-faire:DNQ", "DNQ90") in codes
    assert ("urn:lucarne:rpps:diplome:DES", "DES15") in codes and ("urn:lucarne:rpps:diplome:DE", "DE01") in codes
    authorised = await DirectoryFhir(sessions).practitioner("10000000071")
    assert authorised is not None and ("urn:lucarne:rpps:autorisation:PLEIN", "AUT20") in [
        (q["code"]["coding"][0]["system"], q["code"]["coding"][0]["code"]) for q in authorised["qualification"]]


async def test_progress_reports_every_byte_of_the_file(db: Any) -> None:
    engine, _ = db
    await with_activities(engine)
    seen: list[int] = []
    await run(engine, SF, batch_lines=3, progress=seen.append)
    assert len(seen) > 2 and sum(seen) == SF.stat().st_size


async def test_lines_of_one_professional_split_apart_in_the_file(db: Any, tmp_path: Path) -> None:
    """The national file is sorted by RPPS; a professional's line found later (another batch) is added, not lost."""
    engine, sessions = db
    await with_activities(engine)
    header, *lines = SF.read_text("utf-8").splitlines(keepends=True)
    moved = [line for line in lines if "|CAPA90|" in line and "10000000028" in line]
    shuffled = tmp_path / "split.txt"
    shuffled.write_text(header + "".join(line for line in lines if line not in moved) + "".join(moved), "utf-8")
    report, rejected = await run(engine, shuffled, batch_lines=2)
    assert rejected == [] and report.rows == len(lines)
    expected = {(r[1], r[9], r[11], r[12]) for r in people_and_lines(SF)[1]}
    assert await savoir_faire(sessions) == expected
    await run(engine, shuffled, batch_lines=2)  # again: the same rows (counted as an update of that professional)
    assert await savoir_faire(sessions) == expected
