"""Import a FHIR R4 Bundle of Practitioner / PractitionerRole / Organization (/ Location) into the directory.

Each resource is validated with the ``fhir.resources`` models (R4B, the maintained R4-compatible release); an
invalid entry, or one missing what the directory needs (an RPPS identifier), is rejected with its entry number
while the rest imports. Practitioners are upserted by RPPS exactly like extract lines (same digest rule: an
unchanged practitioner with unchanged roles is left alone), with the mapping of :mod:`expertise.fhir`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.organization import Organization as FhirOrganization
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .directory_errors import ImportRefused
from .directory_import import ImportReport, RejectFile, _Counts, _finish_atomic, _flush, _Group
from .extract_reader import INVALID_TEXT, is_storable_text
from .fhir import (
    FINESS_SYSTEM,
    IDNPS_SYSTEM,
    INSEE_COMMUNE_URL,
    PROFESSION_SYSTEM,
    RPPS_SYSTEM,
    SAVOIR_FAIRE_SYSTEM,
    SIRET_SYSTEM,
)
from .models import Organization
from .rpps_format import ACTIVITY_FIELDS
from .territory import departement_of, territory

__all__ = ["import_fhir_bundle", "sniff_format", "MAX_BUNDLE_BYTES"]

MAX_BUNDLE_BYTES = 64 << 20
_MODELS: dict[str, Any] = {"Practitioner": Practitioner, "PractitionerRole": PractitionerRole,
                           "Organization": FhirOrganization, "Location": Location}


def sniff_format(path: Path) -> str:
    """``fhir`` for a JSON document, else ``rpps`` (the pipe-separated extract)."""
    with path.open("rb") as stream:
        head = stream.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return "fhir" if head.startswith(b"{") else "rpps"


@dataclass
class _Entries:
    practitioners: dict[str, tuple[int, dict[str, Any]]]  # resource id → (entry number, resource)
    roles: list[tuple[int, dict[str, Any]]]
    organizations: dict[str, tuple[int, dict[str, Any]]]
    locations: dict[str, dict[str, Any]]


async def import_fhir_bundle(engine: AsyncEngine, path: Path, *, now: datetime, rejects: RejectFile,
                             dry_run: bool = False, atomic: bool = False) -> ImportReport:
    """Import a Bundle file; entries are numbered from 1 in the reject file ("line" column). With ``atomic``,
    one transaction, rolled back (:class:`ImportRefused`) when any entry is rejected."""
    if path.stat().st_size > MAX_BUNDLE_BYTES:
        raise ImportRefused(f"the bundle is larger than {MAX_BUNDLE_BYTES >> 20} MB")
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ImportRefused(f"the file is not UTF-8 JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise ImportRefused("the JSON document is not a FHIR Bundle")
    entries = document.get("entry") or []
    try:
        Bundle.model_validate({k: v for k, v in document.items() if k != "entry"})
    except ValidationError as exc:
        raise ImportRefused(f"invalid Bundle: {_first_error(exc)}") from exc
    if not isinstance(entries, list):
        raise ImportRefused("Bundle.entry must be a list")
    sorted_entries = _sort(entries, rejects)
    groups = _groups(sorted_entries, rejects)
    counts = _Counts()
    async with engine.connect() as conn:
        organizations = _organization_rows(sorted_entries, now)
        if organizations and not dry_run:
            await conn.execute(_upsert_organizations(conn), organizations)
            if not atomic:
                await conn.commit()
        await _flush(conn, groups, counts, rejects, now, dry_run, source="fhir", commit=not atomic)
        if atomic:
            await _finish_atomic(conn, rejects.count)
    return ImportReport("fhir", "utf-8", len(entries), counts.inserted, counts.updated, counts.unchanged,
                        rejects.count, counts.activities, dry_run)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


def _sort(entries: list[Any], rejects: RejectFile) -> _Entries:
    found = _Entries({}, [], {}, {})
    for number, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind not in _MODELS:
            rejects.write(number, f"unsupported entry ({kind or 'no resource'}); expected "
                                  "Practitioner, PractitionerRole, Organization or Location", json.dumps(entry)[:500])
            continue
        assert isinstance(resource, dict)
        text = json.dumps(resource, ensure_ascii=False)  # keeps surrogates as they are, writes NUL as \\u0000
        if "\\u0000" in text or not is_storable_text(text):
            rejects.write(number, f"{kind} {INVALID_TEXT}", json.dumps(resource)[:500])
            continue
        try:
            _MODELS[kind].model_validate(resource)
        except ValidationError as exc:
            rejects.write(number, f"invalid {kind}: {_first_error(exc)}", json.dumps(resource)[:500])
            continue
        ident = str(resource.get("id") or "")
        if kind == "Practitioner":
            found.practitioners[ident] = (number, resource)
        elif kind == "PractitionerRole":
            found.roles.append((number, resource))
        elif kind == "Organization":
            found.organizations[ident] = (number, resource)
        else:
            found.locations[ident] = resource
    return found


def _rpps_of(practitioner: dict[str, Any]) -> str | None:
    for identifier in practitioner.get("identifier") or []:
        system, value = identifier.get("system"), str(identifier.get("value") or "")
        if system == RPPS_SYSTEM and len(value) == 11 and value.isdigit():
            return value
        if system == IDNPS_SYSTEM and len(value) == 12 and value.startswith("8") and value[1:].isdigit():
            return value[1:]
    return None


def _code(concepts: list[dict[str, Any]] | None, system: str) -> tuple[str, str]:
    for concept in concepts or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == system and coding.get("code"):
                return str(coding["code"]), str(coding.get("display") or "")
    return "", ""


def _groups(entries: _Entries, rejects: RejectFile) -> dict[str, _Group]:
    groups: dict[str, _Group] = {}
    by_id: dict[str, str] = {}
    for ident, (number, resource) in entries.practitioners.items():
        rpps = _rpps_of(resource)
        if rpps is None:
            rejects.write(number, "Practitioner without an RPPS identifier (system "
                                  f"{RPPS_SYSTEM} with 11 digits, or {IDNPS_SYSTEM} with 8 + RPPS)", ident)
            continue
        if rpps in groups:
            first = groups[rpps].first_line
            rejects.write(number, f"duplicate identifier: RPPS {rpps} is already entry {first}", ident)
            continue
        name = (resource.get("name") or [{}])[0]
        prefix = " ".join(name.get("prefix") or [])
        family = str(name.get("family") or "")
        if not family:
            rejects.write(number, "Practitioner without a family name", ident)
            continue
        civility_code = "DR" if prefix.lower().rstrip(".") in ("dr", "docteur") else (
            "PR" if prefix.lower().rstrip(".") in ("pr", "professeur") else "")
        identity = ("8" + rpps, civility_code, prefix[:60], family[:120], " ".join(name.get("given") or [])[:120])
        groups[rpps] = _Group(rpps, identity, number, continuation=False,
                              raw=[json.dumps(resource, sort_keys=True).encode()])
        by_id[ident] = rpps
    for number, role in entries.roles:
        reference = str((role.get("practitioner") or {}).get("reference") or "")
        rpps = by_id.get(reference.removeprefix("Practitioner/"))
        if rpps is None:
            rejects.write(number, f"PractitionerRole refers to no imported Practitioner ({reference or 'none'})",
                          str(role.get("id") or ""))
            continue
        activity = _activity(role, entries)
        earlier = groups[rpps].earlier(activity)
        if earlier is not None:
            rejects.write(number, f"duplicate PractitionerRole (same as entry {earlier})", str(role.get("id") or ""))
            continue
        groups[rpps].add(activity, number)
        groups[rpps].raw.append(json.dumps(role, sort_keys=True).encode())
    return groups


def _address(role: dict[str, Any], entries: _Entries) -> dict[str, Any]:
    contained = {f"#{r.get('id')}": r for r in role.get("contained") or [] if r.get("resourceType") == "Location"}
    for reference in role.get("location") or []:
        ref = str(reference.get("reference") or "")
        location = contained.get(ref) or entries.locations.get(ref.removeprefix("Location/"))
        if location and location.get("address"):
            return dict(location["address"])
    return {}


def _activity(role: dict[str, Any], entries: _Entries) -> tuple[str | None, ...]:
    profession_code, profession = _code(role.get("code"), PROFESSION_SYSTEM)
    specialty_code, specialty = _code(role.get("specialty"), SAVOIR_FAIRE_SYSTEM)
    address = _address(role, entries)
    commune = next((str((e.get("valueCoding") or {}).get("code") or e.get("valueString") or "")
                    for e in address.get("extension") or [] if e.get("url") == INSEE_COMMUNE_URL), "").upper() or None
    departement = departement_of(commune) if commune else None
    if departement not in territory().region_of:
        commune, departement = None, None
    organization_ref = str((role.get("organization") or {}).get("reference") or "").removeprefix("Organization/")
    organization = entries.organizations.get(organization_ref, (0, {}))[1]
    telecom = {t.get("system"): str(t.get("value") or "") for t in role.get("telecom") or []}
    values: dict[str, str | None] = {
        "profession_code": profession_code[:8], "profession": profession[:120], "category_code": "",
        "specialty_type": "S" if specialty_code else "", "specialty_code": specialty_code[:16] or None,
        "specialty": specialty[:200], "practice_mode": "", "structure_id": organization_ref[:40],
        "siret": _identifier(organization, SIRET_SYSTEM)[:14], "finess": _identifier(organization, FINESS_SYSTEM)[:9],
        "structure_name": str(organization.get("name") or (role.get("organization") or {}).get("display") or "")[:200],
        "address": " ".join(address.get("line") or [])[:300], "postal_code": (address.get("postalCode") or None),
        "commune": commune, "commune_name": str(address.get("city") or "")[:120], "departement": departement,
        "phone": telecom.get("phone", "")[:30], "email": telecom.get("email", "")[:200], "role_code": "",
        "genre_code": "",
    }
    if values["postal_code"] is not None:
        values["postal_code"] = str(values["postal_code"])[:10]
    return tuple(values[f] for f in ACTIVITY_FIELDS)


def _identifier(resource: dict[str, Any], system: str) -> str:
    return next((str(i.get("value") or "") for i in resource.get("identifier") or [] if i.get("system") == system), "")


def _organization_rows(entries: _Entries, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for ident, (_, resource) in entries.organizations.items():
        address = (resource.get("address") or [{}])[0]
        commune = next((str((e.get("valueCoding") or {}).get("code") or "") for e in address.get("extension") or []
                        if e.get("url") == INSEE_COMMUNE_URL), "") or None
        rows.append({"id": ident[:64], "name": str(resource.get("name") or "")[:200],
                     "finess": _identifier(resource, FINESS_SYSTEM)[:9],
                     "siret": _identifier(resource, SIRET_SYSTEM)[:14],
                     "postal_code": (str(address.get("postalCode"))[:10] if address.get("postalCode") else None),
                     "commune": commune[:5] if commune else None, "source": "fhir",
                     "row_hash": hashlib.blake2b(json.dumps(resource, sort_keys=True).encode(),
                                                 digest_size=16).hexdigest(), "updated_at": now})
    return rows


def _upsert_organizations(conn: AsyncConnection) -> Any:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(Organization)
    return statement.on_conflict_do_update(index_elements=["id"], set_={
        c.name: statement.excluded[c.name] for c in Organization.__table__.c if c.name != "id"})
