"""FHIR R4 views of the directory: Practitioner (identity, savoir-faire qualifications) and PractitionerRole (one
per activity line, with its specialty, profession, structure and practice address), read and searched.

Mapping (ours, after the ANS "Annuaire Santé" profiles): RPPS and the national id are ``Practitioner.identifier``;
the savoir-faire code is both a ``qualification`` (as ANS does) and ``PractitionerRole.specialty`` (ANS leaves it
empty; our routing key); the practice address is a contained ``Location`` with the INSEE commune as an extension.
Resources are plain JSON-ready dicts; tests validate them with ``fhir.resources`` (R4B models).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .directory import display_name
from .models import Activity, Diploma, Organization, Professional, SavoirFaire

__all__ = ["RPPS_SYSTEM", "IDNPS_SYSTEM", "SAVOIR_FAIRE_SYSTEM", "PROFESSION_SYSTEM", "INSEE_COMMUNE_URL",
           "FINESS_SYSTEM", "SIRET_SYSTEM", "STRUCTURE_SYSTEM", "DirectoryFhir", "practitioner_resource",
           "role_resource", "MAX_PAGE"]

RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
STRUCTURE_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
FINESS_SYSTEM = "http://finess.sante.gouv.fr"
SIRET_SYSTEM = "https://sirene.fr"
SAVOIR_FAIRE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
PROFESSION_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
INSEE_COMMUNE_URL = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
# Savoir-faire of another type than "S" (spécialité ordinale) and diplomas: each type has its own ANS terminology
# (TRE_R39, R40, R42...); we do not ship them, so their codes go under a system of ours, named by the type.
LOCAL_SAVOIR_FAIRE = "urn:lucarne:rpps:savoir-faire:"
LOCAL_DIPLOMA = "urn:lucarne:rpps:diplome:"
LOCAL_AUTHORISATION = "urn:lucarne:rpps:autorisation:"
MAX_PAGE = 100


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def practitioner_resource(person: Professional, activities: Sequence[Activity],
                          savoir_faire: Sequence[SavoirFaire] = (), diplomas: Sequence[Diploma] = ()) -> dict[str, Any]:
    name: dict[str, Any] = {"use": "official", "family": person.family_name}
    if person.given_name:
        name["given"] = [person.given_name]
    if person.civility:
        name["prefix"] = [person.civility]
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": person.rpps,
        "identifier": [{"use": "official", "system": RPPS_SYSTEM, "value": person.rpps},
                       {"system": IDNPS_SYSTEM, "value": person.national_id}],
        "active": person.active,
        "name": [name],
    }
    specialties = {(SAVOIR_FAIRE_SYSTEM, a.specialty_code): a.specialty for a in activities if a.specialty_code}
    for held in savoir_faire:  # the SavoirFaire file: every savoir-faire, of any type
        system = SAVOIR_FAIRE_SYSTEM if held.type_code == "S" else LOCAL_SAVOIR_FAIRE + held.type_code
        specialties[(system, held.code)] = specialties.get((system, held.code)) or held.label
    qualifications = [{"code": _coding(system, code, label)} for (system, code), label in sorted(specialties.items())]
    for diploma in diplomas:
        if diploma.diploma_code:
            qualifications.append({"code": _coding(LOCAL_DIPLOMA + diploma.diploma_type_code, diploma.diploma_code,
                                                   diploma.diploma)})
        if diploma.authorisation_type_code:
            qualifications.append({"code": _coding(LOCAL_AUTHORISATION + diploma.authorisation_type_code,
                                                   diploma.discipline_code or diploma.authorisation_type_code,
                                                   diploma.discipline or diploma.authorisation_type)})
    if qualifications:
        resource["qualification"] = qualifications
    return resource


def role_resource(person: Professional, activity: Activity, organizations: dict[str, Organization]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": f"{person.rpps}-{activity.position}",
        "active": person.active,
        "practitioner": {"reference": f"Practitioner/{person.rpps}",
                         "display": display_name(person.civility_code, person.given_name, person.family_name)},
    }
    if activity.structure_id and activity.structure_id in organizations:
        resource["organization"] = {"reference": f"Organization/{activity.structure_id}",
                                    "display": organizations[activity.structure_id].name or activity.structure_name}
    elif activity.structure_name:
        resource["organization"] = {"display": activity.structure_name}
    if activity.profession_code:
        resource["code"] = [_coding(PROFESSION_SYSTEM, activity.profession_code, activity.profession)]
    if activity.specialty_code:
        resource["specialty"] = [_coding(SAVOIR_FAIRE_SYSTEM, activity.specialty_code, activity.specialty)]
    address: dict[str, Any] = {"use": "work", "country": "FR"}
    if activity.address:
        address["line"] = [activity.address]
    if activity.postal_code:
        address["postalCode"] = activity.postal_code
    if activity.commune_name:
        address["city"] = activity.commune_name
    if activity.departement:
        address["district"] = activity.departement
    if activity.commune:
        address["extension"] = [{"url": INSEE_COMMUNE_URL, "valueCoding": {
            "system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM",
            "code": activity.commune}}]
    resource["contained"] = [{"resourceType": "Location", "id": "site", "address": address}]
    resource["location"] = [{"reference": "#site"}]
    telecom = []
    if activity.phone:
        telecom.append({"system": "phone", "value": activity.phone, "use": "work"})
    if activity.email:
        telecom.append({"system": "email", "value": activity.email, "use": "work"})
    if telecom:
        resource["telecom"] = telecom
    return resource


class DirectoryFhir:
    """Read and search the directory as FHIR resources and ``searchset`` Bundles."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def practitioner(self, rpps: str) -> dict[str, Any] | None:
        async with self._sessions() as session:
            person = await session.get(Professional, rpps)
            if person is None:
                return None
            activities = (await session.scalars(select(Activity).where(Activity.rpps == rpps)
                                                .order_by(Activity.position))).all()
            held = (await session.scalars(select(SavoirFaire).where(SavoirFaire.rpps == rpps)
                                          .order_by(SavoirFaire.type_code, SavoirFaire.code))).all()
            diplomas = (await session.scalars(select(Diploma).where(Diploma.rpps == rpps)
                                              .order_by(Diploma.position))).all()
        return practitioner_resource(person, activities, held, diplomas)

    async def search_practitioners(self, *, identifier: str | None, base_url: str, count: int = 20
                                   ) -> dict[str, Any]:
        """``identifier`` is ``[system|]value``: an RPPS (11 digits) or a national id (8 + RPPS)."""
        rpps = _rpps_from_identifier(identifier) if identifier is not None else None
        async with self._sessions() as session:
            query = select(Professional).order_by(Professional.rpps).limit(min(count, MAX_PAGE))
            total_query = select(func.count()).select_from(Professional)
            if identifier is not None:
                query = query.where(Professional.rpps == (rpps or ""))
                total_query = total_query.where(Professional.rpps == (rpps or ""))
            people = (await session.scalars(query)).all()
            total = int(await session.scalar(total_query) or 0)
            activities = await _activities_of(session, [p.rpps for p in people])
        resources = [practitioner_resource(p, activities.get(p.rpps, [])) for p in people]
        return _searchset(resources, total, base_url)

    async def search_roles(self, *, specialty: str | None, postal_code: str | None, commune: str | None,
                           practitioner: str | None, base_url: str, count: int = 20) -> dict[str, Any]:
        query = select(Activity, Professional).join(Professional, Professional.rpps == Activity.rpps)
        conditions = []
        if specialty is not None:
            conditions.append(Activity.specialty_code == specialty.rsplit("|", 1)[-1])
        if postal_code is not None:
            conditions.append(Activity.postal_code == postal_code)
        if commune is not None:
            conditions.append(Activity.commune == commune.upper())
        if practitioner is not None:
            conditions.append(Activity.rpps == practitioner.removeprefix("Practitioner/"))
        async with self._sessions() as session:
            rows = (await session.execute(query.where(*conditions).order_by(Activity.rpps, Activity.position)
                                          .limit(min(count, MAX_PAGE)))).all()
            total = int(await session.scalar(select(func.count()).select_from(Activity).where(*conditions)) or 0)
            ids = {a.structure_id for a, _ in rows if a.structure_id}
            organizations = {o.id: o for o in (await session.scalars(
                select(Organization).where(Organization.id.in_(ids)))).all()} if ids else {}
        return _searchset([role_resource(p, a, organizations) for a, p in rows], total, base_url)


async def _activities_of(session: AsyncSession, rpps: list[str]) -> dict[str, list[Activity]]:
    found: dict[str, list[Activity]] = {}
    if rpps:
        for activity in await session.scalars(select(Activity).where(Activity.rpps.in_(rpps))
                                              .order_by(Activity.rpps, Activity.position)):
            found.setdefault(activity.rpps, []).append(activity)
    return found


def _rpps_from_identifier(identifier: str) -> str | None:
    system, _, value = identifier.rpartition("|")
    if system and system not in (RPPS_SYSTEM, IDNPS_SYSTEM):
        return None
    if len(value) == 12 and value.startswith("8"):
        value = value[1:]
    return value if len(value) == 11 and value.isdigit() else None


def _searchset(resources: list[dict[str, Any]], total: int, base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": base_url}],
        "entry": [{"fullUrl": f"{base_url.split('?')[0].rsplit('/', 1)[0]}/{r['resourceType']}/{r['id']}",
                   "resource": r, "search": {"mode": "match"}} for r in resources],
    }
