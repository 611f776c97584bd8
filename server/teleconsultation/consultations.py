"""Consultation records: creation, ownership checks, join links (issue, revoke, single exchange), end and report.

Every read of health content goes through here and is written to the audit log. Access is checked on every call:
a professional sees only consultations they own; a participant only the one its link was for. A consultation the
caller may not see is reported as not found, so ids leak nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..identity.links import LinkClaims, LinkError, LinkSigner, new_jti
from ..identity.sessions import Principal
from ..platform.audit import AuditEvent, AuditLog
from ..platform.clock import Clock
from ..platform.crypto import Sealer
from ..platform.db import SessionFactory
from ..platform.errors import Forbidden, Invalid, NotFound
from ..platform.ids import looks_like_id, new_id
from ..platform.models import Consultation, ConsultationEvent, JoinLink, Participant
from .consultation_record import RecordEntry, describe
from .invites import Invitation, email_text, sms_text
from .lifecycle import CONSULTATION, PARTICIPANT, check_transition

__all__ = ["NewConsultation", "ConsultationView", "LinkView", "Consultations", "LinkRefused"]

LINK_ROLES = ("patient", "guest")


@dataclass(frozen=True)
class NewConsultation:
    patient_name: str
    scheduled_at: datetime
    patient_phone: str = ""
    patient_email: str = ""
    duration_min: int = 20
    language: str = "fr"

    @classmethod
    def parse(cls, data: object, max_name: int) -> NewConsultation:
        """Validate a JSON body; raise :class:`Invalid` naming the first bad field."""
        if not isinstance(data, dict):
            raise Invalid("body must be a JSON object")
        name = _text(data, "patient_name", max_name, required=True)
        phone = _text(data, "patient_phone", 30)
        if phone and not all(c.isdigit() or c in "+ .-()" for c in phone):
            raise Invalid("patient_phone may contain digits, spaces and + . - ( ) only")
        email = _text(data, "patient_email", 254)
        if email and ("@" not in email or any(c.isspace() for c in email)):
            raise Invalid("patient_email is not an e-mail address")
        scheduled = _datetime(data.get("scheduled_at"))
        duration = data.get("duration_min", 20)
        if not isinstance(duration, int) or isinstance(duration, bool) or not 5 <= duration <= 240:
            raise Invalid("duration_min must be a whole number of minutes between 5 and 240")
        language = data.get("language", "fr")
        if language not in ("fr", "en"):
            raise Invalid("language must be 'fr' or 'en'")
        return cls(name, scheduled, phone, email, duration, language)


@dataclass(frozen=True)
class ConsultationView:
    id: str
    practitioner_id: str
    patient_name: str
    patient_phone: str
    patient_email: str
    scheduled_at: datetime
    duration_min: int
    language: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    report: str

    def to_json(self) -> dict[str, object]:
        data = self.__dict__.copy()
        for key in ("scheduled_at", "started_at", "ended_at"):
            value = data[key]
            data[key] = value.isoformat() if isinstance(value, datetime) else None
        return data


@dataclass(frozen=True)
class LinkView:
    jti: str
    role: str
    label: str
    url: str
    expires_at: datetime
    revoked: bool
    exchanged: bool
    sms_text: str
    email_subject: str
    email_text: str
    qr_url: str
    ics_url: str
    invitation: Invitation

    def to_json(self) -> dict[str, object]:
        data = {k: v for k, v in self.__dict__.items() if k != "invitation"}
        data["expires_at"] = self.expires_at.isoformat()
        return data


class LinkRefused(Exception):
    """A join link cannot be exchanged; ``code`` is one of invalid, expired, revoked, used, ended, not_yet
    (then ``opens_at`` says when it opens)."""

    def __init__(self, code: str, opens_at: datetime | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.opens_at = opens_at


class Consultations:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        sealer: Sealer,
        signer: LinkSigner,
        audit: AuditLog,
        public_url: str,
        link_ttl_s: int,
        *,
        opens_before_s: int | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sealer = sealer
        self._signer = signer
        self._audit = audit
        self._public_url = public_url.rstrip("/")
        self._link_ttl = timedelta(seconds=link_ttl_s)
        # None: a link opens as soon as it is issued; else this long before the appointment.
        self._opens_before = None if opens_before_s is None else timedelta(seconds=opens_before_s)

    # -- records ---------------------------------------------------------------------------------------------
    async def create(self, owner: Principal, new: NewConsultation) -> ConsultationView:
        _require_professional(owner)
        now = self._clock.now()
        cid = new_id()
        identity = {"name": new.patient_name, "phone": new.patient_phone, "email": new.patient_email}
        row = Consultation(
            id=cid,
            practitioner_id=owner.user_id,
            patient_enc=self._sealer.seal_text(json.dumps(identity), f"patient:{cid}"),
            scheduled_at=new.scheduled_at,
            duration_min=new.duration_min,
            language=new.language,
            status="scheduled",
            created_at=now,
        )
        async with self._sessions.begin() as session:
            session.add(row)
            session.add(ConsultationEvent(consultation_id=cid, at=now, actor=owner.actor, event="created"))
        await self._record(owner, "consultation.create", cid, "ok")
        return self._view(row)

    async def list_for(self, owner: Principal) -> list[ConsultationView]:
        _require_professional(owner)
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Consultation)
                .where(Consultation.practitioner_id == owner.user_id)
                .order_by(Consultation.scheduled_at.desc())
                .limit(200)
            )
            views = [self._view(row) for row in rows]
        await self._record(owner, "consultation.list", f"user:{owner.user_id}", "ok")
        return views

    async def get(self, caller: Principal, cid: str) -> ConsultationView:
        row = await self._owned(caller, cid, "consultation.read")
        await self._record(caller, "consultation.read", cid, "ok")
        return self._view(row)

    async def record(self, caller: Principal, cid: str) -> list[RecordEntry]:
        """The consultation's events in order, in words (creation, admissions, interruptions, end...)."""
        await self._owned(caller, cid, "consultation.record")
        async with self._sessions() as session:
            rows = await session.scalars(select(ConsultationEvent).where(ConsultationEvent.consultation_id == cid)
                                         .order_by(ConsultationEvent.id).limit(1000))
            entries = [RecordEntry(row.at, row.event, row.actor, describe(row.event, row.at)) for row in rows]
        await self._record(caller, "consultation.record", cid, "ok")
        return entries

    async def end(self, caller: Principal, cid: str, report: str | None) -> ConsultationView:
        row = await self._owned(caller, cid, "consultation.end")
        now = self._clock.now()
        async with self._sessions.begin() as session:
            fresh = await session.get(Consultation, cid, with_for_update=True)
            assert fresh is not None
            check_transition(CONSULTATION, fresh.status, "ended", "consultation")
            fresh.status, fresh.ended_at = "ended", now
            if report is not None:
                fresh.report_enc = self._sealer.seal_text(report, f"report:{cid}")
            session.add(ConsultationEvent(consultation_id=cid, at=now, actor=caller.actor, event="ended"))
            row = fresh
        await self._record(caller, "consultation.end", cid, "ok")
        return self._view(row)

    async def remove_participant(self, caller: Principal, cid: str, participant_id: str) -> None:
        """Refuse a waiting patient or guest, or take one out of the call: for good (``removed`` is final)."""
        await self._owned(caller, cid, "participant.remove")
        async with self._sessions.begin() as session:
            consultation = await session.get(Consultation, cid, with_for_update=True)
            row = await session.get(Participant, participant_id, with_for_update=True) \
                if looks_like_id(participant_id) else None
            if row is None or row.consultation_id != cid or row.kind not in ("patient", "guest"):
                raise NotFound("no such participant")
            assert consultation is not None
            if consultation.status not in ("scheduled", "in_progress"):
                raise Invalid("this consultation is over")
            check_transition(PARTICIPANT, row.state, "removed", "participant")
            row.state, row.in_call = "removed", False
            session.add(ConsultationEvent(consultation_id=cid, at=self._clock.now(), actor=caller.actor,
                                          event="removed"))
        await self._record(caller, "participant.remove", cid, "ok")

    async def save_report(self, caller: Principal, cid: str, report: str) -> None:
        await self._owned(caller, cid, "report.write")
        async with self._sessions.begin() as session:
            fresh = await session.get(Consultation, cid, with_for_update=True)
            assert fresh is not None
            fresh.report_enc = self._sealer.seal_text(report, f"report:{cid}")
            session.add(
                ConsultationEvent(consultation_id=cid, at=self._clock.now(), actor=caller.actor, event="report")
            )
        await self._record(caller, "report.write", cid, "ok")

    # -- links -----------------------------------------------------------------------------------------------
    async def issue_link(self, caller: Principal, cid: str, role: str, label: str = "") -> LinkView:
        row = await self._owned(caller, cid, "link.issue")
        if role not in LINK_ROLES:
            raise Invalid("role must be 'patient' or 'guest'")
        if len(label) > 60:
            raise Invalid("label is limited to 60 characters")
        if row.status in ("ended", "cancelled"):
            raise Invalid("this consultation is over; create a new one")
        now = self._clock.now()
        expires = max(now + self._link_ttl, row.scheduled_at + timedelta(minutes=row.duration_min + 120))
        link = JoinLink(
            jti=new_jti(), consultation_id=cid, role=role, label=label, created_at=now, expires_at=expires
        )
        async with self._sessions.begin() as session:
            session.add(link)
            session.add(ConsultationEvent(consultation_id=cid, at=now, actor=caller.actor, event=f"link.{role}"))
        await self._record(caller, "link.issue", cid, "ok")
        return self._link_view(row, link, caller.display_name)

    async def links(self, caller: Principal, cid: str) -> list[LinkView]:
        row = await self._owned(caller, cid, "link.list")
        async with self._sessions() as session:
            links = await session.scalars(
                select(JoinLink).where(JoinLink.consultation_id == cid).order_by(JoinLink.created_at)
            )
            views = [self._link_view(row, link, caller.display_name) for link in links]
        await self._record(caller, "link.list", cid, "ok")
        return views

    async def link(self, caller: Principal, cid: str, jti: str, action: str = "link.read") -> LinkView:
        """One join link (its QR code, its invitation): ``action`` names the read in the audit log."""
        row, link = await self._owned_link(caller, cid, jti, action)
        await self._record(caller, action, cid, "ok")
        return self._link_view(row, link, caller.display_name)

    async def _owned_link(self, caller: Principal, cid: str, jti: str, action: str) -> tuple[Consultation, JoinLink]:
        row = await self._owned(caller, cid, action)
        async with self._sessions() as session:
            link = await session.get(JoinLink, jti) if looks_like_id(jti) else None
        if link is None or link.consultation_id != cid:
            await self._record(caller, action, cid, "not_found")
            raise NotFound("no such link")
        return row, link

    async def revoke_link(self, caller: Principal, cid: str, jti: str) -> None:
        await self._owned_link(caller, cid, jti, "link.revoke")
        now = self._clock.now()
        async with self._sessions.begin() as session:
            link = await session.get(JoinLink, jti)
            assert link is not None
            link.revoked_at = link.revoked_at or now
            session.add(ConsultationEvent(consultation_id=cid, at=now, actor=caller.actor, event="link.revoked"))
        await self._record(caller, "link.revoke", cid, "ok")

    async def check_link(self, token: str) -> str:
        """The language of a join token that :meth:`exchange` would accept now, without using it or writing
        anything (the link's landing page, which machines fetch too); :class:`LinkRefused` otherwise."""
        now = self._clock.now()
        try:
            claims = self._signer.verify(token, now)
        except LinkError as exc:
            raise LinkRefused(exc.code) from exc
        async with self._sessions() as session:
            link = await session.get(JoinLink, claims.jti)
            consultation = await session.get(Consultation, claims.consultation_id)
        code = _refusal(link, consultation, claims)
        if code is not None:
            raise LinkRefused(code)
        assert consultation is not None
        self._check_open(consultation, now)
        return consultation.language

    def _check_open(self, consultation: Consultation, now: datetime) -> None:
        if self._opens_before is None:
            return
        opens_at = consultation.scheduled_at - self._opens_before
        if now < opens_at:
            raise LinkRefused("not_yet", opens_at)

    async def exchange(self, token: str, remote: str) -> str:
        """Trade a join token for a new participant id, exactly once; raise :class:`LinkRefused` otherwise."""
        now = self._clock.now()
        try:
            claims: LinkClaims = self._signer.verify(token, now)
        except LinkError as exc:
            await self._audit.record(AuditEvent("anonymous", "patient", "link.exchange", "link", exc.code, remote))
            raise LinkRefused(exc.code) from exc
        opens_at = None
        async with self._sessions.begin() as session:
            link = await session.get(JoinLink, claims.jti, with_for_update=True)
            consultation = await session.get(Consultation, claims.consultation_id)
            code = _refusal(link, consultation, claims)
            if code is None:
                assert consultation is not None
                try:
                    self._check_open(consultation, now)
                except LinkRefused as early:
                    code, opens_at = early.code, early.opens_at
            if code is None:
                assert link is not None
                link.exchanged_at = now
                participant = Participant(
                    id=new_id(),
                    consultation_id=claims.consultation_id,
                    kind=link.role,
                    label=link.label,
                    state="checking",
                    online=False,
                    in_call=False,
                    instance="",
                    created_at=now,
                )
                session.add(participant)
                session.add(
                    ConsultationEvent(
                        consultation_id=claims.consultation_id, at=now, actor=participant.id, event="link.opened"
                    )
                )
        if code is not None:
            await self._audit.record(
                AuditEvent("anonymous", claims.role, "link.exchange", f"consultation:{claims.consultation_id}",
                           code, remote)
            )
            raise LinkRefused(code, opens_at)
        await self._audit.record(
            AuditEvent(f"participant:{participant.id}", claims.role, "link.exchange",
                       f"consultation:{claims.consultation_id}", "ok", remote)
        )
        return participant.id

    # -- helpers ---------------------------------------------------------------------------------------------
    async def _owned(self, caller: Principal, cid: str, action: str) -> Consultation:
        row = None
        if looks_like_id(cid):
            async with self._sessions() as session:
                row = await session.get(Consultation, cid)
        if row is None or not _may_manage(caller, row):
            await self._record(caller, action, f"consultation:{cid[:40]}", "denied")
            raise NotFound("no such consultation")
        return row

    async def _record(self, caller: Principal, action: str, obj: str, result: str) -> None:
        if not obj.startswith(("consultation:", "user:")):
            obj = f"consultation:{obj}"
        await self._audit.record(AuditEvent(caller.actor, caller.role or caller.kind, action, obj, result))

    def _view(self, row: Consultation) -> ConsultationView:
        identity = json.loads(self._sealer.open_text(row.patient_enc, f"patient:{row.id}"))
        report = self._sealer.open_text(row.report_enc, f"report:{row.id}") if row.report_enc else ""
        return ConsultationView(
            id=row.id,
            practitioner_id=row.practitioner_id,
            patient_name=identity["name"],
            patient_phone=identity["phone"],
            patient_email=identity["email"],
            scheduled_at=row.scheduled_at,
            duration_min=row.duration_min,
            language=row.language,
            status=row.status,
            started_at=row.started_at,
            ended_at=row.ended_at,
            report=report,
        )

    def _link_view(self, row: Consultation, link: JoinLink, practitioner: str) -> LinkView:
        token = self._signer.issue(LinkClaims(link.jti, row.id, link.role, link.expires_at))
        url = f"{self._public_url}/j/{token}"
        invitation = Invitation(
            url=url,
            starts_at=row.scheduled_at,
            duration_min=row.duration_min,
            practitioner=practitioner,
            language=row.language,
            uid=f"{link.jti}@lucarne",
            expires_at=link.expires_at,
        )
        subject, body = email_text(invitation)
        base = f"/api/consultations/{row.id}/links/{link.jti}"
        return LinkView(
            jti=link.jti,
            role=link.role,
            label=link.label,
            url=url,
            expires_at=link.expires_at,
            revoked=link.revoked_at is not None,
            exchanged=link.exchanged_at is not None,
            sms_text=sms_text(invitation),
            email_subject=subject,
            email_text=body,
            qr_url=f"{base}/qr.svg",
            ics_url=f"{base}/invite.ics",
            invitation=invitation,
        )


def _refusal(link: JoinLink | None, consultation: Consultation | None, claims: LinkClaims) -> str | None:
    if link is None or consultation is None or link.consultation_id != claims.consultation_id:
        return "invalid"
    if link.revoked_at is not None:
        return "revoked"
    if link.exchanged_at is not None:
        return "used"
    if consultation.status in ("ended", "cancelled"):
        return "ended"
    return None


def _may_manage(caller: Principal, row: Consultation) -> bool:
    return caller.kind == "user" and caller.user_id == row.practitioner_id


def _require_professional(caller: Principal) -> None:
    if caller.kind != "user":
        raise Forbidden("only professionals may do this")


def _text(data: dict[str, object], key: str, limit: int, *, required: bool = False) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{key} must be text")
    value = value.strip()
    if required and not value:
        raise Invalid(f"{key} is required")
    if len(value) > limit:
        raise Invalid(f"{key} is limited to {limit} characters")
    return value


def _datetime(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid("scheduled_at must be an ISO 8601 date and time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid("scheduled_at must be an ISO 8601 date and time") from exc
    if parsed.tzinfo is None:
        # A datetime-local form field has no offset: read it as the clinic's local time.
        parsed = parsed.replace(tzinfo=ZoneInfo("Europe/Paris"))
    return parsed
