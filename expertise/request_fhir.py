"""FHIR R4 views of requests: ``ServiceRequest`` (the question), ``Task`` (who holds it, in which state, until when)
and ``Communication`` (the thread). Pure functions over the service's views; the host serves them.

Task status mapping (also in ``docs/expertise.md``): the FHIR ``status`` is the coarse workflow state that a generic
FHIR client understands, ``businessStatus`` carries our exact lifecycle state.
"""

from __future__ import annotations

from typing import Any

from .request_input import IDENTITY_STATUSES
from .requests import RequestDetail, RequestSummary
from .workflow import MessageView

__all__ = ["TASK_STATUS", "SERVICE_REQUEST_STATUS", "PRIORITY", "service_request", "task", "communication",
           "bundle", "summary_matches", "RPPS_SYSTEM", "INS_SYSTEM"]

RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"      # RPPS identifiers (ANS)
INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"      # INS-NIR matricule
SPECIALTY_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
STATE_SYSTEM = "https://lucarne.example/fhir/CodeSystem/expertise-request-state"
TASK_STATUS = {
    "submitted": "requested",       # not yet offered to anybody
    "offered": "received",          # delivered to a potential performer (owner), not yet accepted
    "declined": "rejected",         # transient: the router re-offers at once
    "expired": "requested",         # transient: the offer lapsed, being redirected
    "accepted": "accepted",         # the specialist took it and works on the answer
    "info_requested": "on-hold",    # waiting for information from the requester
    "escalated": "requested",       # nobody holds it (no candidate left, or answer deadline passed)
    "answered": "completed",
    "closed": "completed",
    "cancelled": "cancelled",
}
SERVICE_REQUEST_STATUS = {"answered": "completed", "closed": "completed", "cancelled": "revoked"}
PRIORITY = {"urgent": "urgent", "soon": "asap", "routine": "routine"}
_GENDER = {"F": "female", "M": "male", "U": "unknown"}


def _practitioner(rpps: str | None) -> dict[str, Any] | None:
    if not rpps:
        return None
    return {"type": "Practitioner", "identifier": {"system": RPPS_SYSTEM, "value": rpps}}


def _patient(detail: RequestDetail) -> dict[str, Any]:
    patient = detail.patient
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": "patient",
        "name": [{"family": patient["family_name"], "given": patient["given_names"].split()}],
        "birthDate": patient["birth_date"], "gender": _GENDER.get(patient.get("sex", "U"), "unknown"),
        "meta": {"tag": [{"system": STATE_SYSTEM + "-identity", "code": patient["identity_status"]}]},
    }
    # Only a qualified identity may carry the INS as a shareable identifier (identity-vigilance rules).
    if patient.get("ins") and patient["identity_status"] == IDENTITY_STATUSES[-1]:
        resource["identifier"] = [{"system": INS_SYSTEM, "value": patient["ins"]}]
    return resource


def service_request(detail: RequestDetail) -> dict[str, Any]:
    s = detail.summary
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": s.id,
        "contained": [_patient(detail)],
        "status": SERVICE_REQUEST_STATUS.get(s.status, "active"), "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "11429006",
                                  "display": "Consultation"}], "text": "tele-expertise"}],
        "priority": PRIORITY.get(s.urgency, "routine"),
        "code": {"text": "Tele-expertise (second opinion)"},
        "subject": {"reference": "#patient"},
        "authoredOn": s.created_at.isoformat(),
        "requester": {"display": f"account {s.requester_id}"},
        "performerType": {"coding": [{"system": SPECIALTY_SYSTEM, "code": s.specialty}], "text": s.specialty},
        "note": [{"text": detail.question}] + ([{"text": detail.context}] if detail.context else []),
    }
    performer = _practitioner(s.assigned_rpps)
    if performer:
        resource["performer"] = [performer]
    if detail.attachments:
        resource["supportingInfo"] = [{"display": f"{a.content_type} {a.name} ({a.size} bytes, sha256 {a.sha256})"}
                                      for a in detail.attachments]
    return resource


def task(detail: RequestDetail) -> dict[str, Any]:
    s = detail.summary
    resource: dict[str, Any] = {
        "resourceType": "Task", "id": s.id,
        "status": TASK_STATUS[s.status],
        "businessStatus": {"coding": [{"system": STATE_SYSTEM, "code": s.status}], "text": s.status},
        "intent": "order", "priority": PRIORITY.get(s.urgency, "routine"),
        "focus": {"reference": f"ServiceRequest/{s.id}"},
        "authoredOn": s.created_at.isoformat(),
        "lastModified": (detail.transitions[-1].at if detail.transitions else s.created_at).isoformat(),
        "requester": {"display": f"account {s.requester_id}"},
        "restriction": {"period": {"end": s.answer_due_at.isoformat()}},
    }
    owner = _practitioner(s.assigned_rpps)
    if owner:
        resource["owner"] = owner
    if detail.answer:
        resource["output"] = [{"type": {"text": key}, "valueString": value}
                              for key, value in detail.answer.items() if value]
    return resource


def communication(request_id: str, message: MessageView) -> dict[str, Any]:
    return {
        "resourceType": "Communication", "id": f"{request_id}-{message.id}", "status": "completed",
        "basedOn": [{"reference": f"ServiceRequest/{request_id}"}],
        "partOf": [{"reference": f"Task/{request_id}"}],
        "category": [{"coding": [{"system": STATE_SYSTEM + "-message", "code": message.kind}]}],
        "sent": message.at.isoformat(),
        "sender": {"display": f"{message.author_role} {message.author}"},
        "payload": [{"contentString": message.body}],
    }


def bundle(resources: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


def summary_matches(summary: RequestSummary, status: str | None) -> bool:
    """FHIR ``status`` search on Tasks: match the mapped FHIR status or our exact state."""
    return status is None or status in (TASK_STATUS[summary.status], summary.status)
