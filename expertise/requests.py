"""Second-opinion requests: submission, access checks, the specialist's decision, reads. Every read of health
content and every denial is audited; a request the caller may not see is reported as not found.

Who sees what: the requester sees their own requests; a specialist sees a request only while it is offered or
assigned to their RPPS number (``assigned_rpps``), so a re-route revokes the previous specialist's access at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .attachment_quota import AttachmentLimits, check_quota, lock_uploader
from .attachments import CleanFile, clean_name, sanitise_attachment
from .deadlines import TIMER_KINDS, DeadlinePolicy
from .dispatch import Dispatcher, lock_request
from .lifecycle import TERMINAL_STATES
from .request_errors import IdempotencyKeyReused, InvalidRequest, RequestError, RequestForbidden, RequestNotFound
from .request_input import NewRequest
from .request_models import ExpertiseRequest, RequestAttachment, RequestOffer, RequestTransition
from .request_ports import Actor, AuditPort, BlobPort, ClockPort, DirectoryPort, Notice, NotifierPort, SealerPort

__all__ = ["ExpertiseRequests", "RequestSummary", "RequestDetail", "AttachmentView", "TransitionView",
           "REQUESTER_ROLES", "REQUESTER_PROFESSIONS", "EXPERT_PROFESSIONS"]

REQUESTER_ROLES = ("practitioner", "specialist")
# French rules: these professions may ask for a tele-expertise; only doctors and midwives may give one.
REQUESTER_PROFESSIONS = frozenset({"medecin", "sage_femme", "orthoptiste", "masseur_kinesitherapeute", "infirmier",
                                   "orthophoniste", "pedicure_podologue"})
EXPERT_PROFESSIONS = frozenset({"medecin", "sage_femme"})
_LIST_LIMIT = 200


def _new_id() -> str:
    return secrets.token_hex(16)


def _attachment_id(rid: str, uploader: str, idempotency_key: str | None, sha256: str) -> str:
    """A retry's id is the first attempt's: derived from the request, the uploader and the key (or the file)."""
    token = f"key:{idempotency_key}" if idempotency_key else f"sha256:{sha256}"
    return hashlib.sha256(f"attachment\0{rid}\0{uploader}\0{token}".encode()).hexdigest()[:32]


def _open_for_attachments(row: ExpertiseRequest) -> None:
    if row.status in TERMINAL_STATES:
        raise InvalidRequest("this request is over; attachments can no longer be added")


def _is_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class TransitionView:
    at: datetime
    actor: str
    from_state: str
    to_state: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "actor": self.actor, "from": self.from_state, "to": self.to_state,
                "detail": self.detail}


@dataclass(frozen=True)
class AttachmentView:
    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    at: datetime
    uploader: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "content_type": self.content_type, "size": self.size,
                "sha256": self.sha256, "at": self.at.isoformat(), "uploader": self.uploader}


@dataclass(frozen=True)
class RequestSummary:
    """What a list shows: no health content (nothing is unsealed to draw a list)."""

    id: str
    status: str
    specialty: str
    urgency: str
    created_at: datetime
    answer_due_at: datetime
    requester_id: str
    assigned_rpps: str | None
    my_role: str  # "requester" | "expert"
    referral_avoided: bool | None = None

    def to_json(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["created_at"] = self.created_at.isoformat()
        data["answer_due_at"] = self.answer_due_at.isoformat()
        return data


@dataclass(frozen=True)
class RequestDetail:
    summary: RequestSummary
    patient: dict[str, str]
    question: str
    context: str
    consent: dict[str, str]
    commune: str | None
    language: str | None
    answer: dict[str, str] | None
    consultation_id: str | None
    consultation_link: str | None
    offer_expires_at: datetime | None
    attachments: tuple[AttachmentView, ...] = ()
    transitions: tuple[TransitionView, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        return {**self.summary.to_json(), "patient": self.patient, "question": self.question,
                "context": self.context, "consent": self.consent, "commune": self.commune, "language": self.language,
                "answer": self.answer, "consultation_id": self.consultation_id,
                "consultation_link": self.consultation_link,
                "offer_expires_at": self.offer_expires_at.isoformat() if self.offer_expires_at else None,
                "attachments": [a.to_json() for a in self.attachments],
                "transitions": [t.to_json() for t in self.transitions]}


class ExpertiseRequests:
    """The request service. Shared by the HTTP API, the timer runner and (through ``server``) the FHIR views."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: ClockPort, directory: DirectoryPort,
                 sealer: SealerPort, blobs: BlobPort, audit: AuditPort, notifier: NotifierPort,
                 patient_key: Callable[[str], str], policy: DeadlinePolicy | None = None, node: str = "", *,
                 load_ttl: float = 0.0, attachment_limits: AttachmentLimits | None = None) -> None:
        self._sessions = sessions
        self.attachment_limits = attachment_limits or AttachmentLimits()
        self._sanitising = asyncio.Semaphore(2)
        self._clock = clock
        self._sealer = sealer
        self._blobs = blobs
        self._audit = audit
        self._notifier = notifier
        self._patient_key = patient_key
        self.policy = policy or DeadlinePolicy()
        # load_ttl > 0: specialists' open-request counts cached for routing (expertise/loads.py).
        self.dispatcher = Dispatcher(sessions, clock, directory, self.policy, node, load_ttl=load_ttl)

    async def stop(self) -> None:
        """Stop background refreshes of routing caches (the host calls it at shutdown)."""
        await self.dispatcher.close()

    # -- submission ------------------------------------------------------------------------------------------
    async def submit(self, actor: Actor, new: NewRequest) -> RequestDetail:
        if actor.role not in REQUESTER_ROLES:
            await self._record(actor, "expertise.create", "expertise:new", "denied")
            raise RequestForbidden("only practitioners may send a tele-expertise request")
        if actor.profession is not None and actor.profession not in REQUESTER_PROFESSIONS:
            await self._record(actor, "expertise.create", "expertise:new", "denied")
            raise RequestForbidden("your profession may not request a tele-expertise (allowed: doctors, midwives, "
                                   "nurses, physiotherapists, speech therapists, orthoptists, podiatrists)")
        self.policy.for_urgency(new.urgency)
        now, rid = self._clock.now(), _new_id()
        consent = {"obtained": "true", "method": new.consent.method, "recorded_by": actor.user_id,
                   "recorded_at": now.isoformat()}
        row = ExpertiseRequest(
            id=rid, requester_id=actor.user_id, requester_rpps=actor.rpps, specialty=new.specialty,
            urgency=new.urgency, status="submitted", commune=new.commune, language=new.language,
            identity_status=new.patient.identity_status,
            patient_enc=self._seal(json.dumps(new.patient.to_json()), "patient", rid),
            patient_key=self._patient_key(new.patient.key_material()),
            question_enc=self._seal(new.question, "question", rid), context_enc=self._seal(new.context, "context", rid),
            consent_enc=self._seal(json.dumps(consent), "consent", rid), created_at=now,
            answer_due_at=self.policy.answer_due(new.urgency, now))
        notices: list[Notice] = []
        async with self._sessions.begin() as session:
            session.add(row)
            session.add(RequestTransition(request_id=rid, at=now, actor=actor.label, from_state="",
                                          to_state="submitted", detail=f"urgency {new.urgency}"))
            await session.flush()
            await self.dispatcher.route(session, row, "system:routing", now, notices)
        await self._record(actor, "expertise.create", f"expertise:{rid}", "ok")
        await self._send(notices)
        return await self.get(actor, rid)

    # -- the specialist's decision ---------------------------------------------------------------------------
    async def accept(self, actor: Actor, rid: str) -> RequestDetail:
        if actor.profession is not None and actor.profession not in EXPERT_PROFESSIONS:
            raise RequestForbidden("only doctors and midwives may give a tele-expertise")
        now = self._clock.now()
        async with self._changing(actor, rid, "expertise.accept", expert=True) as (session, row):
            self.dispatcher.move(session, row, "accepted", actor.label, now)
            row.accepted_at = row.accepted_at or now
            await self.dispatcher.settle_offer(session, row, "accepted", now)
            self.dispatcher.answer_timers(session, row, now)
        await self._record(actor, "expertise.accept", f"expertise:{rid}", "ok")
        await self._send([Notice("request.accepted", rid, "accepted", user_id=row.requester_id)])
        return await self.get(actor, rid)

    async def decline(self, actor: Actor, rid: str, reason: str = "") -> None:
        if len(reason) > 500:
            raise InvalidRequest("reason is limited to 500 characters")
        now = self._clock.now()
        notices: list[Notice] = []
        async with self._changing(actor, rid, "expertise.decline", expert=True) as (session, row):
            self.dispatcher.move(session, row, "declined", actor.label, now, f"declined by {actor.rpps}")
            await self.dispatcher.settle_offer(session, row, "declined", now)
            await self.dispatcher.route(session, row, "system:routing", now, notices)
        await self._record(actor, "expertise.decline", f"expertise:{rid}", "ok")
        await self._send(notices)

    async def cancel(self, actor: Actor, rid: str) -> None:
        now = self._clock.now()
        async with self._changing(actor, rid, "expertise.cancel", requester=True) as (session, row):
            previous = row.assigned_rpps
            self.dispatcher.move(session, row, "cancelled", actor.label, now)
            row.closed_at = now
            await self.dispatcher.settle_offer(session, row, "revoked", now)
            await self.dispatcher.cancel_timers(session, rid, TIMER_KINDS, now)
        await self._record(actor, "expertise.cancel", f"expertise:{rid}", "ok")
        if previous:
            await self._send([Notice("request.cancelled", rid, "cancelled", rpps=previous)])

    # -- reads -----------------------------------------------------------------------------------------------
    async def list_for(self, actor: Actor, *, status: str | None = None, urgency: str | None = None,
                       specialty: str | None = None, role: str | None = None) -> list[RequestSummary]:
        """Requests the actor sent and requests offered or assigned to them, newest first, with filters."""
        conditions = []
        mine = ExpertiseRequest.requester_id == actor.user_id
        assigned = ExpertiseRequest.assigned_rpps == actor.rpps if actor.rpps else None
        if role == "requester" or assigned is None:
            scope = mine if role != "expert" else None
        elif role == "expert":
            scope = assigned
        else:
            scope = mine | assigned
        if scope is None:
            return []
        conditions.append(scope)
        for column, value in ((ExpertiseRequest.status, status), (ExpertiseRequest.urgency, urgency),
                              (ExpertiseRequest.specialty, specialty)):
            if value:
                conditions.append(column == value)
        async with self._sessions() as session:
            rows = await session.scalars(select(ExpertiseRequest).where(*conditions)
                                         .order_by(ExpertiseRequest.created_at.desc()).limit(_LIST_LIMIT))
            summaries = [self._summary(row, actor) for row in rows]
        await self._record(actor, "expertise.list", f"user:{actor.user_id}", "ok")
        return summaries

    async def get(self, actor: Actor, rid: str) -> RequestDetail:
        async with self._sessions() as session:
            row = await self._visible(session, actor, rid, "expertise.read")
            detail = await self._detail(session, row, actor)
        await self._record(actor, "expertise.read", f"expertise:{rid}", "ok")
        return detail

    async def summary(self, actor: Actor, rid: str) -> RequestSummary:
        async with self._sessions() as session:
            row = await self._visible(session, actor, rid, "expertise.status")
            return self._summary(row, actor)

    # -- attachments -----------------------------------------------------------------------------------------
    async def attachment_room(self, actor: Actor, rid: str, size: int, idempotency_key: str | None = None) -> None:
        """Refuse early, before the body is read, an upload that the request or the account has no room for (a
        retry under a key that already stored its file always has room: it gets the first attachment back)."""
        async with self._sessions() as session:
            row = await self._visible(session, actor, rid, "expertise.attach")
            _open_for_attachments(row)
            if idempotency_key:
                stored = await session.get(RequestAttachment, _attachment_id(rid, actor.label, idempotency_key, ""))
                if stored is not None:
                    return
            await check_quota(session, self.attachment_limits, actor.label, rid, size, self._clock.now())

    async def add_attachment(self, actor: Actor, rid: str, name: str, data: bytes,
                             idempotency_key: str | None = None) -> tuple[AttachmentView, bool]:
        """Store a clean copy of an uploaded file; returns ``(view, created)``. A retry (the same Idempotency-Key,
        or the same file again on the same request) returns the first attachment: one row, one blob. The blob is
        written before its row and removed if the row is not written, so neither exists without the other."""
        async with self._sessions() as session:
            _open_for_attachments(await self._visible(session, actor, rid, "expertise.attach"))
        async with self._sanitising:  # a few decodes at a time: each may hold a 40-megapixel image
            clean = await asyncio.to_thread(sanitise_attachment, data, self.attachment_limits.max_bytes,
                                            self.attachment_limits.max_pixels)
        aid = _attachment_id(rid, actor.label, idempotency_key, clean.sha256)
        async with self._sessions() as session:
            earlier = await self._earlier_upload(session, rid, aid, clean)
            if earlier is None:
                await check_quota(session, self.attachment_limits, actor.label, rid, len(clean.data),
                                  self._clock.now())
        if earlier is not None:
            return earlier, False
        await self._blobs.put(aid, clean.data)
        try:
            view, created = await self._insert_attachment(actor, rid, aid, name, clean)
        except BaseException:
            await self._discard_blob(aid)
            raise
        if not created and view.id != aid:
            await self._discard_blob(aid)
        if created:
            await self._record(actor, "expertise.attach", f"expertise:{rid}", "ok")
        return view, created

    async def _insert_attachment(self, actor: Actor, rid: str, aid: str, name: str,
                                 clean: CleanFile) -> tuple[AttachmentView, bool]:
        now = self._clock.now()
        view = AttachmentView(aid, clean_name(name, clean.extension), clean.content_type, len(clean.data),
                              clean.sha256, now, actor.label)
        async with self._sessions.begin() as session:
            row = await lock_request(session, rid)
            await lock_uploader(session, actor.label)
            assert row is not None
            _open_for_attachments(row)
            earlier = await self._earlier_upload(session, rid, aid, clean)
            if earlier is not None:
                return earlier, False
            await check_quota(session, self.attachment_limits, actor.label, rid, view.size, now)
            session.add(RequestAttachment(id=aid, request_id=rid, at=now, uploader=actor.label,
                                          content_type=clean.content_type,
                                          name_enc=self._seal(view.name, "attachment", aid),
                                          size=view.size, sha256=view.sha256))
        return view, True

    async def _earlier_upload(self, session: AsyncSession, rid: str, aid: str,
                              clean: CleanFile) -> AttachmentView | None:
        """The attachment a retry refers to: same id (same key, or same file), else the same file on the request."""
        row = await session.get(RequestAttachment, aid)
        if row is not None and row.sha256 != clean.sha256:
            raise IdempotencyKeyReused("this Idempotency-Key was already used for another file; "
                                       "send a new file with a new key")
        if row is None:
            row = await session.scalar(select(RequestAttachment).where(
                RequestAttachment.request_id == rid, RequestAttachment.sha256 == clean.sha256).limit(1))
        return self._attachment_view(row) if row is not None else None

    async def _discard_blob(self, aid: str) -> None:
        """Remove a blob that no row points to (a failed or duplicate upload)."""
        async with self._sessions() as session:
            if await session.get(RequestAttachment, aid) is None:
                await self._blobs.delete(aid)

    async def attachment(self, actor: Actor, rid: str, aid: str) -> tuple[AttachmentView, bytes]:
        """One attachment's bytes: access is checked again and audited on every download."""
        async with self._sessions() as session:
            await self._visible(session, actor, rid, "expertise.attachment.read")
            row = await session.get(RequestAttachment, aid) if _is_id(aid) else None
        if row is None or row.request_id != rid:
            await self._record(actor, "expertise.attachment.read", f"expertise:{rid}", "denied")
            raise RequestNotFound("no such attachment")
        data = await self._blobs.get(aid)
        await self._record(actor, "expertise.attachment.read", f"expertise:{rid}", "ok")
        return self._attachment_view(row), data

    # -- shared with the workflow module ---------------------------------------------------------------------
    async def _visible(self, session: AsyncSession, actor: Actor, rid: str, action: str, *,
                       requester: bool = False, expert: bool = False) -> ExpertiseRequest:
        row = await session.get(ExpertiseRequest, rid) if _is_id(rid) else None
        return await self._check(actor, row, rid, action, requester=requester, expert=expert)

    @asynccontextmanager
    async def _changing(self, actor: Actor, rid: str, action: str, *, requester: bool = False,
                        expert: bool = False) -> AsyncIterator[tuple[AsyncSession, ExpertiseRequest]]:
        """A write transaction on the locked request, once access is checked. A denial is audited after the
        transaction ends (the audit log writes in its own transaction, which SQLite would make wait on ours)."""
        denied: RequestError | None = None
        try:
            async with self._sessions.begin() as session:
                row = await lock_request(session, rid) if _is_id(rid) else None
                denied = _denial(actor, row, requester=requester, expert=expert)
                if denied is not None:
                    raise denied
                assert row is not None
                yield session, row
        finally:
            if denied is not None:
                await self._record(actor, action, f"expertise:{rid[:40]}", "denied")

    async def _check(self, actor: Actor, row: ExpertiseRequest | None, rid: str, action: str, *,
                     requester: bool, expert: bool) -> ExpertiseRequest:
        denied = _denial(actor, row, requester=requester, expert=expert)
        if denied is not None:
            await self._record(actor, action, f"expertise:{rid[:40]}", "denied")
            raise denied
        assert row is not None
        return row

    async def _record(self, actor: Actor, action: str, obj: str, result: str) -> None:
        await self._audit.record(actor.label, actor.role, action, obj, result)

    async def _send(self, notices: list[Notice]) -> None:
        for notice in notices:
            await self._notifier.notify(notice)

    def _seal(self, text: str, kind: str, rid: str) -> bytes:
        return self._sealer.seal_text(text, f"expertise-{kind}:{rid}")

    def _open(self, sealed: bytes, kind: str, rid: str) -> str:
        return self._sealer.open_text(sealed, f"expertise-{kind}:{rid}")

    def _summary(self, row: ExpertiseRequest, actor: Actor) -> RequestSummary:
        return RequestSummary(row.id, row.status, row.specialty, row.urgency, row.created_at, row.answer_due_at,
                              row.requester_id, row.assigned_rpps, _role_on(actor, row) or "", row.referral_avoided)

    async def _detail(self, session: AsyncSession, row: ExpertiseRequest, actor: Actor) -> RequestDetail:
        attachments = await session.scalars(select(RequestAttachment).where(RequestAttachment.request_id == row.id)
                                            .order_by(RequestAttachment.at))
        transitions = await session.scalars(select(RequestTransition).where(RequestTransition.request_id == row.id)
                                            .order_by(RequestTransition.id))
        offer = await session.scalar(select(RequestOffer).where(
            RequestOffer.request_id == row.id, RequestOffer.outcome == "pending"))
        answer = json.loads(self._open(row.answer_enc, "answer", row.id)) if row.answer_enc else None
        link = (self._open(row.consultation_link_enc, "consultation-link", row.id)
                if row.consultation_link_enc and _role_on(actor, row) == "expert" else None)
        return RequestDetail(
            summary=self._summary(row, actor), patient=json.loads(self._open(row.patient_enc, "patient", row.id)),
            question=self._open(row.question_enc, "question", row.id),
            context=self._open(row.context_enc, "context", row.id),
            consent=json.loads(self._open(row.consent_enc, "consent", row.id)), commune=row.commune,
            language=row.language, answer=answer, consultation_id=row.consultation_id, consultation_link=link,
            offer_expires_at=offer.expires_at if offer else None,
            attachments=tuple(self._attachment_view(a) for a in attachments),
            transitions=tuple(TransitionView(t.at, t.actor, t.from_state, t.to_state, t.detail) for t in transitions))

    def _attachment_view(self, row: RequestAttachment) -> AttachmentView:
        return AttachmentView(row.id, self._open(row.name_enc, "attachment", row.id), row.content_type, row.size,
                              row.sha256, row.at, row.uploader)

    async def fire_due(self, limit: int = 50) -> list[tuple[int, str]]:
        """Fire every due timer once (the background runner calls this); returns ``(timer id, result)``."""
        fired: list[tuple[int, str]] = []
        for timer_id in await self.dispatcher.due(limit):
            outcome = await self.dispatcher.fire(timer_id)
            if outcome is not None:
                fired.append((timer_id, outcome[0]))
                await self._send(outcome[1])
        return fired


def _denial(actor: Actor, row: ExpertiseRequest | None, *, requester: bool, expert: bool) -> RequestError | None:
    """Why ``actor`` may not act on ``row`` (``None`` when allowed). Unknown and invisible look the same."""
    role = _role_on(actor, row) if row is not None else None
    wanted = {"requester"} if requester else {"expert"} if expert else {"requester", "expert"}
    if role in wanted:
        return None
    if role is not None:
        return RequestForbidden(f"only the {' or '.join(sorted(wanted))} may do this")
    return RequestNotFound("no such request")


def _role_on(actor: Actor, row: ExpertiseRequest) -> str | None:
    if row.requester_id == actor.user_id:
        return "requester"
    if actor.rpps and row.assigned_rpps == actor.rpps:
        return "expert"
    return None

