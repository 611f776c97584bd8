"""Validated input for second-opinion requests: parse once at the edge, pass typed values inward."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from .request_errors import InvalidRequest

__all__ = ["PatientIdentity", "Consent", "NewRequest", "AnswerReport", "IDENTITY_STATUSES", "CONSULTATION_NEEDS",
           "MAX_QUESTION", "MAX_CONTEXT", "MAX_MESSAGE", "MAX_ANSWER"]

# INS identity statuses (référentiel national d'identitovigilance): only "qualifiee" lets the INS be shared.
IDENTITY_STATUSES = ("provisoire", "recuperee", "validee", "qualifiee")
CONSULTATION_NEEDS = ("none", "teleconsultation", "in_person")
CONSENT_METHODS = ("oral", "written", "electronic")
MAX_QUESTION, MAX_CONTEXT, MAX_MESSAGE, MAX_ANSWER = 4000, 20000, 4000, 20000
_SPECIALTY = re.compile(r"^[A-Za-z0-9_\-:. ]{2,80}$")
_COMMUNE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
# INS matricule: the 13-character NIR (Corsica: 2A/2B) followed by its 2-digit key.
_INS = re.compile(r"^[12378]\d{2}(0[1-9]|1[0-2]|[2-9]\d)(\d{2}|2[AB])\d{6}\d{2}$")


def _text(data: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidRequest(f"{key} must be text")
    value = value.strip()
    if required and not value:
        raise InvalidRequest(f"{key} is required")
    if len(value) > limit:
        raise InvalidRequest(f"{key} is limited to {limit} characters")
    return value


@dataclass(frozen=True)
class PatientIdentity:
    family_name: str
    given_names: str
    birth_date: date
    sex: str
    identity_status: str
    ins: str = ""

    @classmethod
    def parse(cls, data: object) -> PatientIdentity:
        if not isinstance(data, dict):
            raise InvalidRequest("patient must be an object")
        family, given = _text(data, "family_name", 100, required=True), _text(data, "given_names", 150, required=True)
        try:
            birth = date.fromisoformat(_text(data, "birth_date", 10, required=True))
        except ValueError as exc:
            raise InvalidRequest("patient.birth_date must be a date (YYYY-MM-DD)") from exc
        sex = _text(data, "sex", 1) or "U"
        if sex not in ("F", "M", "U"):
            raise InvalidRequest("patient.sex must be F, M or U")
        status = _text(data, "identity_status", 12, required=True)
        if status not in IDENTITY_STATUSES:
            raise InvalidRequest(f"patient.identity_status must be one of {', '.join(IDENTITY_STATUSES)}")
        ins = _text(data, "ins", 15).replace(" ", "").upper()
        if ins and not _INS.match(ins):
            raise InvalidRequest("patient.ins must be a 15-character INS matricule (NIR and key)")
        if status in ("recuperee", "qualifiee") and not ins:
            raise InvalidRequest(f"an identity with status {status} carries its INS matricule (patient.ins)")
        return cls(family, given, birth, sex, status, ins)

    def to_json(self) -> dict[str, str]:
        return {"family_name": self.family_name, "given_names": self.given_names,
                "birth_date": self.birth_date.isoformat(), "sex": self.sex,
                "identity_status": self.identity_status, "ins": self.ins}

    def key_material(self) -> str:
        """What identifies the patient for the yearly billing cap: the INS when present, else name and birth."""
        if self.ins:
            return f"ins:{self.ins}"
        return f"trait:{self.family_name.casefold()}|{self.given_names.casefold()}|{self.birth_date.isoformat()}"


@dataclass(frozen=True)
class Consent:
    method: str
    recorded_by: str = ""

    @classmethod
    def parse(cls, data: object) -> Consent:
        if not isinstance(data, dict) or data.get("obtained") is not True:
            raise InvalidRequest("the patient's consent to tele-expertise is required (consent.obtained = true): "
                                 "inform the patient and record their consent before sending the request")
        method = _text(data, "method", 12) or "oral"
        if method not in CONSENT_METHODS:
            raise InvalidRequest(f"consent.method must be one of {', '.join(CONSENT_METHODS)}")
        return cls(method)


@dataclass(frozen=True)
class NewRequest:
    specialty: str
    question: str
    context: str
    urgency: str
    patient: PatientIdentity
    consent: Consent
    commune: str | None = None
    language: str | None = None

    @classmethod
    def parse(cls, data: object, urgencies: tuple[str, ...]) -> NewRequest:
        """Validate a JSON body; raise :class:`InvalidRequest` naming the first bad field."""
        if not isinstance(data, dict):
            raise InvalidRequest("body must be a JSON object")
        specialty = _text(data, "specialty", 80, required=True)
        if not _SPECIALTY.match(specialty):
            raise InvalidRequest("specialty must be a specialty code or name (letters, digits, - _ : .)")
        urgency = _text(data, "urgency", 12) or "routine"
        if urgency not in urgencies:
            raise InvalidRequest(f"urgency must be one of {', '.join(urgencies)}")
        commune = _text(data, "commune", 5).upper() or None
        if commune and not _COMMUNE.match(commune):
            raise InvalidRequest("commune must be an INSEE commune code (5 characters)")
        language = _text(data, "language", 5).lower() or None
        if language and not re.fullmatch(r"[a-z]{2,3}", language):
            raise InvalidRequest("language must be an ISO 639 code such as fr or en")
        consent = Consent.parse(data.get("consent"))
        return cls(specialty, _text(data, "question", MAX_QUESTION, required=True),
                   _text(data, "context", MAX_CONTEXT), urgency, PatientIdentity.parse(data.get("patient")),
                   consent, commune, language)


@dataclass(frozen=True)
class AnswerReport:
    opinion: str
    recommendations: str
    consultation_needed: str

    @classmethod
    def parse(cls, data: object) -> AnswerReport:
        if not isinstance(data, dict):
            raise InvalidRequest("body must be a JSON object")
        needed = _text(data, "consultation_needed", 16) or "none"
        if needed not in CONSULTATION_NEEDS:
            raise InvalidRequest(f"consultation_needed must be one of {', '.join(CONSULTATION_NEEDS)}")
        return cls(_text(data, "opinion", MAX_ANSWER, required=True),
                   _text(data, "recommendations", MAX_ANSWER), needed)

    def to_json(self) -> dict[str, str]:
        return {"opinion": self.opinion, "recommendations": self.recommendations,
                "consultation_needed": self.consultation_needed}
