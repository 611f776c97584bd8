"""FHIR R4 Bundle import (Practitioner / PractitionerRole / Organization / Location) on both databases."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from expertise import ImportRefused, RejectFile, import_fhir_bundle, sniff_format
from expertise.models import Activity, Organization, Professional

DATA = Path(__file__).resolve().parents[1] / "data"
BUNDLE = DATA / "directory_bundle.json"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


async def run(engine: Any, path: Path, **options: Any) -> tuple[Any, dict[int, str]]:
    out = io.StringIO()
    report = await import_fhir_bundle(engine, path, now=NOW, rejects=RejectFile(out), **options)
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    return report, {int(line): reason for line, reason, _ in rows}


async def test_bundle_imports_valid_entries_and_rejects_the_rest(db: Any) -> None:
    engine, sessions = db
    report, rejected = await run(engine, BUNDLE)
    assert (report.inserted, report.updated, report.activities) == (2, 0, 2)
    assert sorted(rejected) == [7, 8, 9, 10]
    assert "without an RPPS identifier" in rejected[7]
    assert "invalid Practitioner" in rejected[8] and "active" in rejected[8]
    assert "refers to no imported Practitioner" in rejected[9]
    assert "unsupported entry (Observation)" in rejected[10]
    async with sessions() as session:
        people = {p.rpps: p for p in await session.scalars(select(Professional))}
        sites = {a.rpps: a for a in await session.scalars(select(Activity))}
        chu = await session.get(Organization, "chu-lyon")
    assert people["10200000001"].family_name == "Moreau" and people["10200000001"].civility_code == "DR"
    assert people["10200000002"].national_id == "810200000002" and people["10200000002"].source == "fhir"
    moreau = sites["10200000001"]
    assert (moreau.specialty_code, moreau.commune, moreau.departement, moreau.postal_code) == \
        ("SM15", "69383", "69", "69003")
    assert moreau.structure_name == "Hospices Civils de Lyon" and moreau.finess == "690781810"
    assert (sites["10200000002"].commune, sites["10200000002"].specialty_code) == ("38185", "SM04")
    assert chu is not None and chu.commune == "69382"

    again, _ = await run(engine, BUNDLE)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


async def test_a_changed_role_updates_its_practitioner(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    await run(engine, BUNDLE)
    document = json.loads(BUNDLE.read_text())
    document["entry"][3]["resource"]["telecom"][0]["value"] = "0472111111"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document))
    report, _ = await run(engine, changed)
    assert (report.updated, report.unchanged) == (1, 1)
    async with sessions() as session:
        assert await session.scalar(select(Activity.phone).where(Activity.rpps == "10200000001")) == "0472111111"


async def test_not_a_bundle_is_refused_and_formats_are_sniffed(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    patient = tmp_path / "patient.json"
    patient.write_text('{"resourceType": "Patient"}')
    with pytest.raises(ImportRefused, match="not a FHIR Bundle"):
        await run(engine, patient)
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", "entry": [')
    with pytest.raises(ImportRefused, match="not UTF-8 JSON"):
        await run(engine, broken)
    dry, _ = await run(engine, BUNDLE, dry_run=True)
    assert dry.inserted == 2
    async with sessions() as session:
        assert (await session.scalars(select(Professional))).all() == []
    assert sniff_format(BUNDLE) == "fhir"
    assert sniff_format(DATA / "PS_LibreAcces_Personne_activite_202612010000.txt") == "rpps"
