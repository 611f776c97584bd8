"""The RPPS ``PS_LibreAcces_Personne_activite`` extract: encoding detection, header mapping, line validation.

Pipe-separated, header row, no quoting, one line per activity; some releases end every line with a ``|``.
Columns are found **by header name** (their order changed between releases). Validation only: nothing here
touches the database.
"""

from __future__ import annotations

import codecs
import operator
import re
import unicodedata
from dataclasses import dataclass
from operator import gt
from typing import NamedTuple

from .directory_errors import ImportRefused
from .models import Activity, Professional
from .territory import territory

__all__ = ["HEADER_NAMES", "REQUIRED", "ACTIVITY_FIELDS", "IDENTITY_FIELDS", "detect_encoding", "Header",
           "ValidLine", "LineError", "STANDARD_HEADER"]

# Internal field → header name in the extract.
HEADER_NAMES: dict[str, str] = {
    "id_type": "Type d'identifiant PP",
    "rpps": "Identifiant PP",
    "national_id": "Identification nationale PP",
    "civility_code": "Code civilité d'exercice",
    "civility": "Libellé civilité d'exercice",
    "family_name": "Nom d'exercice",
    "given_name": "Prénom d'exercice",
    "profession_code": "Code profession",
    "profession": "Libellé profession",
    "category_code": "Code catégorie professionnelle",
    "specialty_type": "Code type savoir-faire",
    "specialty_code": "Code savoir-faire",
    "specialty": "Libellé savoir-faire",
    "practice_mode": "Code mode exercice",
    "siret": "Numéro SIRET site",
    "finess": "Numéro FINESS site",
    "structure_id": "Identifiant technique de la structure",
    "structure_name": "Raison sociale site",
    "street_number": "Numéro Voie (coord. structure)",
    "street_repeat": "Indice répétition voie (coord. structure)",
    "street_type": "Libellé type de voie (coord. structure)",
    "street": "Libellé Voie (coord. structure)",
    "postal_code": "Code postal (coord. structure)",
    "commune": "Code commune (coord. structure)",
    "commune_name": "Libellé commune (coord. structure)",
    "phone": "Téléphone (coord. structure)",
    "email": "Adresse e-mail (coord. structure)",
    "departement": "Code Département (structure)",
    "role_code": "Code rôle",
    "genre_code": "Code genre activité",
}
REQUIRED = ("rpps", "family_name", "profession_code", "specialty_code", "commune")

# The 56 columns of the national extract, in the order of the releases read (tests/data and bench use it).
STANDARD_HEADER = [
    "Type d'identifiant PP", "Identifiant PP", "Identification nationale PP", "Code civilité d'exercice",
    "Libellé civilité d'exercice", "Code civilité", "Libellé civilité", "Nom d'exercice", "Prénom d'exercice",
    "Code profession", "Libellé profession", "Code catégorie professionnelle", "Libellé catégorie professionnelle",
    "Code type savoir-faire", "Libellé type savoir-faire", "Code savoir-faire", "Libellé savoir-faire",
    "Code mode exercice", "Libellé mode exercice", "Numéro SIRET site", "Numéro SIREN site", "Numéro FINESS site",
    "Numéro FINESS établissement juridique", "Identifiant technique de la structure", "Raison sociale site",
    "Enseigne commerciale site", "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)", "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)", "Code type de voie (coord. structure)",
    "Libellé type de voie (coord. structure)", "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)", "Bureau cedex (coord. structure)", "Code postal (coord. structure)",
    "Code commune (coord. structure)", "Libellé commune (coord. structure)", "Code pays (coord. structure)",
    "Libellé pays (coord. structure)", "Téléphone (coord. structure)", "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)", "Adresse e-mail (coord. structure)", "Code Département (structure)",
    "Libellé Département (structure)", "Ancien identifiant de la structure", "Autorité d'enregistrement",
    "Code secteur d'activité", "Libellé secteur d'activité", "Code section tableau pharmaciens",
    "Libellé section tableau pharmaciens", "Code rôle", "Libellé rôle", "Code genre activité",
    "Libellé genre activité",
]

IDENTITY_FIELDS = ("national_id", "civility_code", "civility", "family_name", "given_name")
ACTIVITY_FIELDS = ("profession_code", "profession", "category_code", "specialty_type", "specialty_code",
                   "specialty", "practice_mode", "structure_id", "siret", "finess", "structure_name", "address",
                   "postal_code", "commune", "commune_name", "departement", "phone", "email", "role_code",
                   "genre_code")
_LIMITS = {**{f: Professional.__table__.c[f].type.length for f in IDENTITY_FIELDS},  # type: ignore[attr-defined]
           **{f: Activity.__table__.c[f].type.length for f in ACTIVITY_FIELDS}}  # type: ignore[attr-defined]
_COMMUNE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
_ADDRESS_PARTS = ("street_number", "street_repeat", "street_type", "street")


def _normal(name: str) -> str:
    """Header names compared without case, accents' encoding form, typographic apostrophes or extra spaces."""
    name = unicodedata.normalize("NFC", name).replace("\u2019", "'").replace("\ufeff", "")
    return " ".join(name.split()).casefold()


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 / Latin-1; refuse UTF-16 and binary files.

    The header row decides first: its names are accented ("Libellé ..."), so it is never pure ASCII in the real
    extract, and one corrupt byte further down must not turn a UTF-8 file into mojibake (that line is rejected).
    """
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in sample:
        raise ImportRefused("the file is UTF-16 or binary, not a text extract: convert it to UTF-8")
    header = sample.split(b"\n", 1)[0]
    probe = header if not header.isascii() else sample
    try:
        # A sample may end inside a multi-byte character: the incremental decoder keeps an incomplete tail.
        codecs.getincrementaldecoder("utf-8")().decode(probe, final=probe is header and len(header) < len(sample))
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        probe.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


class ValidLine(NamedTuple):
    """A named tuple rather than a dataclass: chunks of them cross a pipe, and tuples pickle fastest."""

    number: int
    raw: bytes                         # the line as read, for the change digest
    rpps: str
    identity: tuple[str, ...]          # IDENTITY_FIELDS order
    activity: tuple[str | None, ...]   # ACTIVITY_FIELDS order


@dataclass(frozen=True, slots=True)
class LineError:
    number: int
    reason: str


# Fields read from each line, in the order :meth:`Header.parse` unpacks them.
_READ = ("id_type", "rpps", "national_id", "civility_code", "civility", "family_name", "given_name",
         "profession_code", "profession", "category_code", "specialty_type", "specialty_code", "specialty",
         "practice_mode", "structure_id", "siret", "finess", "structure_name", "street_number", "street_repeat",
         "street_type", "street", "postal_code", "commune", "commune_name", "phone", "email", "departement",
         "role_code", "genre_code")
_READ_LIMITS = tuple(_LIMITS.get(f, _LIMITS["address"]) for f in _READ)


class Header:
    """Column positions found by name in the header row; refuses a header that lacks a required column."""

    def __init__(self, line: str) -> None:
        names = line.rstrip("\r\n").split("|")
        if names and names[-1].strip() == "":
            names.pop()  # trailing "|"
        self.width = len(names)
        positions: dict[str, int] = {}
        for index, name in enumerate(names):
            positions.setdefault(_normal(name), index)
        found = {field: positions.get(_normal(header)) for field, header in HEADER_NAMES.items()}
        missing = [HEADER_NAMES[f] for f in REQUIRED if found[f] is None]
        if missing:
            raise ImportRefused("the header lacks required column(s): " + ", ".join(repr(m) for m in missing)
                                + "; is this a PS_LibreAcces_Personne_activite file?")
        # An absent optional column reads the empty cell appended after the last one.
        self._get = operator.itemgetter(*(found[f] if found[f] is not None else self.width for f in _READ))
        self._places = territory().region_of

    def parse(self, number: int, text: str, raw: bytes, *, complete: bool) -> ValidLine | LineError:
        """Validate one line (without its end of line); ``complete`` is False for a last line with no newline.

        This runs 2.4 million times per national import: one split, one itemgetter, few branches."""
        parts = text.split("|")
        width = self.width
        if len(parts) == width:
            parts.append("")
        elif len(parts) != width + 1 or parts[-1] != "":
            if not complete and len(parts) < width:
                return LineError(number, f"truncated last line: {len(parts)} of {width} fields, no end of line")
            return LineError(number, f"expected {width} fields, found {len(parts) - (parts[-1] == '')}")
        cells = self._get(parts)
        (id_type, rpps, national_id, civility_code, civility, family_name, given_name, profession_code,
         profession, category_code, specialty_type, specialty_code, specialty, practice_mode, structure_id, siret,
         finess, structure_name, street_number, street_repeat, street_type, street, postal_code, commune,
         commune_name, phone, email, departement, role_code, genre_code) = cells
        if id_type and id_type != "8":
            return LineError(number, f"identifier type {id_type!r} is not RPPS (8); only RPPS professionals are kept")
        if len(rpps) != 11 or not rpps.isdigit():
            rpps = rpps.strip()
            if len(rpps) != 11 or not rpps.isdigit():
                return LineError(number, f"RPPS identifier must be 11 digits, got {len(rpps)} character(s)")
        if national_id and national_id != "8" + rpps:
            return LineError(number, "national identifier does not match the RPPS identifier")
        if not family_name.strip():
            return LineError(number, "empty 'Nom d'exercice'")
        if any(map(gt, map(len, cells), _READ_LIMITS)):
            field = next(f for f, v, m in zip(_READ, cells, _READ_LIMITS, strict=True) if len(v) > m)
            return LineError(number, f"{field} is longer than {_LIMITS.get(field, _LIMITS['address'])} characters")
        if commune:
            commune = commune.strip().upper()
            departement = commune[:3] if commune.startswith("97") else commune[:2]
            if not _COMMUNE.match(commune) or departement not in self._places:
                return LineError(number, f"invalid INSEE commune code {commune!r}")
        else:
            commune = None
            departement = departement.strip().upper()
            if departement not in self._places:
                departement = None
        address = " ".join(filter(None, (street_number, street_repeat, street_type, street)))
        if len(address) > _LIMITS["address"]:
            return LineError(number, f"address is longer than {_LIMITS['address']} characters")
        identity = (national_id or "8" + rpps, civility_code, civility, family_name, given_name)
        return ValidLine(number, raw, rpps, identity, (
            profession_code, profession, category_code, specialty_type, specialty_code or None, specialty,
            practice_mode, structure_id, siret, finess, structure_name, address, postal_code or None, commune,
            commune_name, departement, phone, email, role_code, genre_code))
