"""Tele-expertise: professional directory, routed second-opinion requests, durable deadlines, FHIR views.

Requests part: :class:`ExpertiseService` owns the request lifecycle (``lifecycle.py``), routing
(``routing.py``, ``dispatch.py``), durable deadlines (``deadlines.py``, ``timers.py``), the thread, answer and billing
(``workflow.py``). It needs a directory, a sealer, a blob store, an audit log and a notifier from its host
(``request_ports.py``); it never imports ``server``.

Directory part:

- :class:`Directory` answers routing questions (:meth:`Directory.candidates`);
- :func:`import_rpps` / :func:`import_fhir_bundle` load the national extract or a FHIR R4 Bundle (upsert by RPPS);
- :func:`import_list` loads the extract's savoir-faire and diploma files (:data:`SAVOIR_FAIRE`, :data:`DIPLOMAS`);
- :func:`plan_prune` / :func:`apply_prune` mark inactive the professionals a new full extract no longer lists;
- :class:`Profiles` holds what each professional accepts (capacity, languages, specialties, absences);
- :class:`DirectoryFhir` renders Practitioner / PractitionerRole resources and searchset Bundles;
- :func:`territory` is the shipped commune → département → region reference;
- the tables are declared on :data:`metadata` (the host's migrations own the schema).
"""

from .attachment_quota import AttachmentLimits
from .attachments import (
    EXTENSIONS,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    CleanFile,
    clean_name,
    sanitise_attachment,
    sniff_attachment,
)
from .deadlines import DEFAULT_DEADLINES, LEGAL_MAX_ANSWER, TIMER_KINDS, Deadline, DeadlinePolicy
from .directory import Candidate, Directory, display_name
from .directory_errors import DirectoryError, ImportRefused, InvalidProfile, ProfessionalNotFound
from .directory_import import ImportReport, RejectFile, csv_safe, import_rpps
from .directory_prune import (
    MAX_PRUNE_SHARE,
    MAX_REJECT_SHARE,
    PrunePlan,
    apply_prune,
    has_inactive,
    plan_prune,
    prune_refusal,
)
from .fhir import DirectoryFhir
from .fhir_import import import_fhir_bundle, sniff_format
from .lifecycle import ASSIGNED_STATES, OPEN_STATES, STATES, TERMINAL_STATES, TRANSITIONS, check_transition
from .metrics import ANSWER_BUCKETS, RequestMetrics, RequestTimes, compute_metrics, load_metrics, percentile
from .models import metadata
from .professions import PROFESSION_CODES, profession_of
from .profiles import AbsenceView, Profiles, ProfileUpdate, ProfileView
from .qualifications_import import DIPLOMAS, SAVOIR_FAIRE, ListFormat, ListImportReport, import_list, sniff_extract
from .request_errors import (
    BillingLimitReached,
    IdempotencyKeyReused,
    InvalidRequest,
    InvalidTransition,
    QuotaExceeded,
    RequestError,
    RequestForbidden,
    RequestNotFound,
)
from .request_fhir import SERVICE_REQUEST_STATUS, TASK_STATUS
from .request_fhir import bundle as fhir_bundle
from .request_fhir import communication as fhir_communication
from .request_fhir import service_request as fhir_service_request
from .request_fhir import summary_matches as fhir_task_matches
from .request_fhir import task as fhir_task
from .request_input import CONSULTATION_NEEDS, IDENTITY_STATUSES, AnswerReport, Consent, NewRequest, PatientIdentity
from .request_models import RequestsBase
from .request_ports import (
    SYSTEM,
    Actor,
    AuditPort,
    BlobPort,
    CandidateLike,
    ClockPort,
    DirectoryPort,
    Notice,
    NotifierPort,
    SealerPort,
)
from .requests import (
    EXPERT_PROFESSIONS,
    REQUESTER_PROFESSIONS,
    REQUESTER_ROLES,
    AttachmentView,
    RequestDetail,
    RequestSummary,
    TransitionView,
)
from .routable import RoutingChange, routable_specialties, routing_changes
from .routing import RankedCandidate, rank_candidates
from .territory import Territory, departement_of, territory
from .timers import DeadlineRunner
from .workflow import BILLING_CODES, MAX_ACTS_PER_PATIENT_YEAR, ExpertiseService, MessageView

__all__ = [
    # directory
    "Candidate", "Directory", "display_name", "metadata", "Territory", "departement_of", "territory",
    "DirectoryError", "ImportRefused", "InvalidProfile", "ProfessionalNotFound",
    "ImportReport", "RejectFile", "csv_safe", "import_rpps", "RoutingChange", "routable_specialties",
    "routing_changes", "import_fhir_bundle", "sniff_format",
    "DirectoryFhir", "Profiles", "ProfileView", "ProfileUpdate", "AbsenceView",
    "ListFormat", "ListImportReport", "SAVOIR_FAIRE", "DIPLOMAS", "import_list", "sniff_extract",
    "PrunePlan", "MAX_PRUNE_SHARE", "MAX_REJECT_SHARE", "plan_prune", "apply_prune", "prune_refusal", "has_inactive",
    # requests
    "ExpertiseService", "DeadlineRunner", "DeadlinePolicy", "Deadline", "DEFAULT_DEADLINES", "LEGAL_MAX_ANSWER",
    "TIMER_KINDS", "TRANSITIONS", "STATES", "OPEN_STATES", "ASSIGNED_STATES", "TERMINAL_STATES", "check_transition",
    "RequestError", "RequestNotFound", "RequestForbidden", "InvalidTransition", "InvalidRequest",
    "BillingLimitReached", "NewRequest", "PatientIdentity", "Consent", "AnswerReport", "IDENTITY_STATUSES",
    "CONSULTATION_NEEDS", "RequestsBase", "Actor", "SYSTEM", "Notice", "CandidateLike", "DirectoryPort",
    "SealerPort", "BlobPort", "AuditPort", "NotifierPort", "ClockPort", "RequestSummary", "RequestDetail",
    "AttachmentView", "TransitionView", "MessageView", "REQUESTER_ROLES", "REQUESTER_PROFESSIONS",
    "EXPERT_PROFESSIONS", "BILLING_CODES", "MAX_ACTS_PER_PATIENT_YEAR", "RankedCandidate", "rank_candidates",
    "MAX_ATTACHMENT_BYTES", "MAX_ATTACHMENTS", "sniff_attachment", "sanitise_attachment", "CleanFile", "EXTENSIONS",
    "clean_name",
    "AttachmentLimits", "QuotaExceeded", "IdempotencyKeyReused", "PROFESSION_CODES", "profession_of",
    "TASK_STATUS", "SERVICE_REQUEST_STATUS", "fhir_communication", "fhir_bundle", "fhir_service_request", "fhir_task",
    "fhir_task_matches", "RequestMetrics", "RequestTimes", "compute_metrics", "load_metrics", "percentile",
    "ANSWER_BUCKETS",
]
