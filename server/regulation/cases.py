"""Emergency regulation cases: single-use caller links, case members, the case timeline and still captures.

A case is visible only to its members (the regulator who opened it and the professionals they add); anything
else is reported as not found. The caller link works once, on one device (the first browser to open it gets a
device secret; another device is refused and the refusal lands in the timeline), for its lifetime, for its case.
Captures are validated by content (a real JPEG or PNG, bounded pixels), re-encoded without metadata, held to
per-case quotas (``server/regulation/stills.py``), sealed in the blob store and hashed (SHA-256 of the stored JPEG).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..identity.links import LinkClaims, LinkError, LinkSigner, new_jti
from ..identity.sessions import Principal
from ..platform.audit import AuditEvent, AuditLog
from ..platform.blobs import BlobStore
from ..platform.clock import Clock
from ..platform.crypto import Sealer
from ..platform.db import SessionFactory
from ..platform.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from ..platform.ids import looks_like_id, new_id
from ..platform.models import CallerLink, Capture, CaseEvent, CaseMember, RegulationCase, User
from .notify import NotifyFailed, SmsNotifier
from .stills import StillLimits, check_still_quota, clean_still, lock_case

__all__ = ["NewCase", "CaseView", "CallerLinkView", "TimelineEntry", "CaptureView", "RegulationCases",
           "CallerRefused", "MAX_IMAGE_BYTES", "MAX_PIXELS"]

MAX_IMAGE_BYTES = StillLimits.max_bytes
COMMANDS = ("switch_camera", "torch_on", "torch_off")
COMMANDS_PER_10S = 10
MAX_PIXELS = StillLimits.max_pixels
REGULATION_ROLES = ("regulator", "practitioner")


@dataclass(frozen=True)
class NewCase:
    case_number: str
    caller_phone: str
    reason: str

    @classmethod
    def parse(cls, data: object) -> NewCase:
        if not isinstance(data, dict):
            raise Invalid("body must be a JSON object")
        number, phone, reason = (data.get(k, "") for k in ("case_number", "caller_phone", "reason"))
        if not isinstance(number, str) or not 1 <= len(number.strip()) <= 40:
            raise Invalid("case_number is required (at most 40 characters)")
        phone_like = isinstance(phone, str) and all(c.isdigit() or c in "+ .-()" for c in phone)
        if not phone_like or not 4 <= len(phone) <= 30:
            raise Invalid("caller_phone must be a phone number")
        if not isinstance(reason, str) or len(reason) > 2000:
            raise Invalid("reason must be text of at most 2000 characters")
        return cls(number.strip(), phone.strip(), reason.strip())


class CaseNumberOpen(Conflict):
    code = "case_number_open"


@dataclass(frozen=True)
class CaseView:
    id: str
    case_number: str
    caller_phone: str
    reason: str
    status: str
    created_at: datetime
    closed_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["created_at"] = self.created_at.isoformat()
        data["closed_at"] = self.closed_at.isoformat() if self.closed_at else None
        return data


@dataclass(frozen=True)
class CallerLinkView:
    jti: str
    url: str
    sms_text: str
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"jti": self.jti, "url": self.url, "sms_text": self.sms_text, "expires_at": self.expires_at.isoformat()}


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class CaptureView:
    id: str
    at: datetime
    capturer: str
    source: str
    sha256: str
    size: int
    width: int
    height: int
    location: dict[str, float] | None

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["at"] = self.at.isoformat()
        return data


class CallerRefused(Exception):
    """The caller link cannot be used: ``code`` is invalid, expired, revoked, other_device or closed."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class RegulationCases:
    def __init__(self, sessions: SessionFactory, clock: Clock, sealer: Sealer, signer: LinkSigner, audit: AuditLog,
                 blobs: BlobStore, notifier: SmsNotifier, public_url: str, link_ttl_s: int = 1800, *,
                 still_limits: StillLimits | None = None) -> None:
        self._sessions = sessions
        self.still_limits = still_limits or StillLimits()
        self._clock = clock
        self._sealer = sealer
        self._signer = signer
        self._audit = audit
        self._blobs = blobs
        self._notifier = notifier
        self._public_url = public_url.rstrip("/")
        self._link_ttl = timedelta(seconds=link_ttl_s)

    # -- cases -----------------------------------------------------------------------------------------------
    async def open_case(self, caller: Principal, new: NewCase) -> tuple[CaseView, CallerLinkView]:
        if caller.kind != "user" or caller.role != "regulator":
            raise Forbidden("only regulators open regulation cases")
        await self._refuse_open_number(new.case_number)
        now, cid = self._clock.now(), new_id()
        row = RegulationCase(id=cid, case_number=new.case_number, status="open", created_at=now,
                             opened_by=caller.user_id,
                             caller_phone_enc=self._sealer.seal_text(new.caller_phone, f"case-phone:{cid}"),
                             reason_enc=self._sealer.seal_text(new.reason, f"case-reason:{cid}"))
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            session.add(CaseMember(case_id=cid, user_id=caller.user_id, added_at=now))
        await self.record(cid, caller.actor, "case.opened", {"case_number": new.case_number})
        link = await self._issue_link(cid, caller.actor)
        await self._audit_access(caller, "case.open", cid, "ok")
        return self._view(row), link

    async def _refuse_open_number(self, case_number: str) -> None:
        """Two open cases under one number would split one emergency's timeline and captures in two."""
        async with self._sessions() as session:
            taken = await session.scalar(select(RegulationCase.id).where(
                RegulationCase.case_number == case_number, RegulationCase.status == "open").limit(1))
        if taken is not None:
            raise CaseNumberOpen(f"case {case_number} is already open: open it from the list, or close it first")

    async def get(self, caller: Principal, case_id: str) -> CaseView:
        row = await self._member_case(caller, case_id, "case.read")
        await self._audit_access(caller, "case.read", case_id, "ok")
        return self._view(row)

    async def list_for(self, caller: Principal) -> list[CaseView]:
        if caller.kind != "user":
            raise Forbidden("professionals only")
        async with self._sessions() as session:
            rows = await session.scalars(
                select(RegulationCase).join(CaseMember, CaseMember.case_id == RegulationCase.id)
                .where(CaseMember.user_id == caller.user_id).order_by(RegulationCase.created_at.desc()).limit(200))
            views = [self._view(row) for row in rows]
        await self._audit_access(caller, "case.list", f"user:{caller.user_id}", "ok")
        return views

    async def add_member(self, caller: Principal, case_id: str, username: str) -> None:
        await self._member_case(caller, case_id, "case.member.add")
        async with self._sessions.begin() as session:
            user = await session.scalar(select(User).where(User.username == username.lower()))
            if user is None or not user.active or user.role not in REGULATION_ROLES:
                raise Invalid("no regulator or practitioner with that user name")
            if await session.get(CaseMember, (case_id, user.id)) is None:
                session.add(CaseMember(case_id=case_id, user_id=user.id, added_at=self._clock.now()))
        await self.record(case_id, caller.actor, "case.member_added", {"user": user.id})
        await self._audit_access(caller, "case.member.add", case_id, "ok")

    async def close(self, caller: Principal, case_id: str) -> CaseView:
        await self._member_case(caller, case_id, "case.close")
        async with self._sessions.begin() as session:
            row = await session.get(RegulationCase, case_id, with_for_update=True)
            assert row is not None
            if row.status != "open":
                raise Conflict("this case is already closed")
            row.status, row.closed_at = "closed", self._clock.now()
        await self.record(case_id, caller.actor, "case.closed", {})
        await self._audit_access(caller, "case.close", case_id, "ok")
        return self._view(row)

    # -- caller link -----------------------------------------------------------------------------------------
    async def new_link(self, caller: Principal, case_id: str) -> CallerLinkView:
        row = await self._member_case(caller, case_id, "case.link")
        if row.status != "open":
            raise Conflict("this case is closed")
        now = self._clock.now()
        async with self._sessions.begin() as session:
            for link in await session.scalars(select(CallerLink).where(CallerLink.case_id == case_id,
                                                                       CallerLink.revoked_at.is_(None))):
                link.revoked_at = now
        issued = await self._issue_link(case_id, caller.actor)
        await self._audit_access(caller, "case.link", case_id, "ok")
        return issued

    async def current_link(self, caller: Principal, case_id: str) -> CallerLinkView | None:
        """The newest caller link that was not revoked (its URL is re-derived from the signed claims)."""
        await self._member_case(caller, case_id, "case.link.read")
        async with self._sessions() as session:
            link = await session.scalar(select(CallerLink).where(CallerLink.case_id == case_id,
                                                                 CallerLink.revoked_at.is_(None))
                                        .order_by(CallerLink.created_at.desc()).limit(1))
        await self._audit_access(caller, "case.link.read", case_id, "ok" if link else "none")
        return self._link_view(link) if link else None

    async def send_link(self, caller: Principal, case_id: str, link: CallerLinkView) -> bool:
        """Send the caller link by SMS; the timeline records success or failure either way."""
        row = await self._member_case(caller, case_id, "case.link.send")
        phone = self._sealer.open_text(row.caller_phone_enc, f"case-phone:{case_id}")
        try:
            await self._notifier.send(phone, link.sms_text)
        except NotifyFailed as exc:
            await self.record(case_id, caller.actor, "link.send_failed", {"reason": str(exc)[:200]})
            await self._audit_access(caller, "case.link.send", case_id, "failed")
            return False
        await self.record(case_id, caller.actor, "link.sent", {"jti": link.jti})
        await self._audit_access(caller, "case.link.send", case_id, "ok")
        return True

    async def check_caller_link(self, token: str) -> None:
        """Raise :class:`CallerRefused` for a caller link that no device may open (invalid, expired, revoked,
        closed case), without binding it or writing anything: the link's landing page, which preview bots fetch
        too. Whether this device may open it is decided by :meth:`open_caller_link`."""
        try:
            claims = self._signer.verify(token, self._clock.now())
        except LinkError as exc:
            raise CallerRefused(exc.code) from exc
        if claims.role != "caller":
            raise CallerRefused("invalid")
        async with self._sessions() as session:
            link = await session.get(CallerLink, claims.jti)
            case = await session.get(RegulationCase, claims.consultation_id)
        code, _ = _caller_refusal(link, case, None)
        if code is not None and code != "other_device":
            raise CallerRefused(code)

    async def open_caller_link(self, token: str, device_secret: str | None, remote: str) -> tuple[str, str, str]:
        """Check a caller link on this device. Returns ``(case_id, jti, device_secret)``; the secret is new on
        first use and must come back on every later visit from the same device."""
        now = self._clock.now()
        try:
            claims = self._signer.verify(token, now)
        except LinkError as exc:
            await self._audit.record(AuditEvent("anonymous", "caller", "caller_link.open", "case", exc.code, remote))
            raise CallerRefused(exc.code) from exc
        if claims.role != "caller":
            raise CallerRefused("invalid")
        case_id = claims.consultation_id  # the token's subject is the case
        async with self._sessions.begin() as session:
            link = await session.get(CallerLink, claims.jti, with_for_update=True)
            case = await session.get(RegulationCase, case_id)
            code, secret = _caller_refusal(link, case, device_secret)
            if code is None and link is not None and not link.device_hash:
                secret = secrets.token_urlsafe(24)
                link.device_hash, link.opened_at = _digest(secret), now
        if code is not None:
            if case is not None:
                await self.record(case_id, "caller", "link.refused", {"reason": code})
            await self._audit.record(AuditEvent("anonymous", "caller", "caller_link.open", f"case:{case_id}", code,
                                                remote))
            raise CallerRefused(code)
        await self.record(case_id, "caller", "link.opened", {})
        await self._audit.record(AuditEvent(f"caller:{case_id}", "caller", "caller_link.open", f"case:{case_id}",
                                            "ok", remote))
        assert secret is not None
        return case_id, claims.jti, secret

    # -- timeline and captures ---------------------------------------------------------------------------------
    async def record(self, case_id: str, actor: str, kind: str, detail: dict[str, Any]) -> TimelineEntry:
        now = self._clock.now()
        sealed = self._sealer.seal_text(json.dumps(detail), f"case-event:{case_id}")
        async with self._sessions.begin() as session:
            event = CaseEvent(case_id=case_id, at=now, actor=actor[:64], kind=kind[:40], detail_enc=sealed)
            session.add(event)
            await session.flush()
            return TimelineEntry(event.id, now, event.actor, event.kind, detail)

    async def command(self, caller: Principal, case_id: str, command: str) -> TimelineEntry:
        """Ask the caller's page to act (switch camera, torch); rate-limited per case to stop floods."""
        if command not in COMMANDS:
            raise Invalid(f"command must be one of {', '.join(COMMANDS)}")
        row = await self._member_case(caller, case_id, "case.command")
        if row.status != "open":
            raise Conflict("this case is closed")
        since = self._clock.now() - timedelta(seconds=10)
        async with self._sessions() as session:
            recent = await session.scalar(select(func.count()).where(
                CaseEvent.case_id == case_id, CaseEvent.kind.startswith("command."), CaseEvent.at >= since))
        if (recent or 0) >= COMMANDS_PER_10S:
            await self._audit_access(caller, "case.command", case_id, "rate_limited")
            raise RateLimited("too many camera commands; wait a few seconds")
        entry = await self.record(case_id, caller.actor, f"command.{command}", {})
        await self._audit_access(caller, "case.command", case_id, "ok")
        return entry

    async def pending_commands(self, case_id: str, after_id: int) -> list[TimelineEntry]:
        """Commands for the caller's page, newer than ``after_id`` (the caller polls this)."""
        async with self._sessions() as session:
            rows = await session.scalars(select(CaseEvent).where(
                CaseEvent.case_id == case_id, CaseEvent.id > after_id, CaseEvent.kind.startswith("command."))
                .order_by(CaseEvent.id).limit(20))
            return [TimelineEntry(r.id, r.at, r.actor, r.kind, {}) for r in rows]

    async def timeline(self, caller: Principal, case_id: str, after_id: int = 0) -> list[TimelineEntry]:
        await self._member_case(caller, case_id, "case.timeline")
        async with self._sessions() as session:
            rows = await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.id > after_id)
                                         .order_by(CaseEvent.id).limit(1000))
            entries = [TimelineEntry(r.id, r.at, r.actor, r.kind,
                                     json.loads(self._sealer.open_text(r.detail_enc, f"case-event:{case_id}")))
                       for r in rows]
        await self._audit_access(caller, "case.timeline", case_id, "ok")
        return entries

    async def last_caller_location(self, case_id: str) -> dict[str, float] | None:
        """The caller's latest shared position (``lat``, ``lon``), or ``None`` when they shared none."""
        async with self._sessions() as session:
            sealed = await session.scalar(select(CaseEvent.detail_enc).where(
                CaseEvent.case_id == case_id, CaseEvent.kind == "caller.location").order_by(CaseEvent.id.desc())
                .limit(1))
        if sealed is None:
            return None
        detail = json.loads(self._sealer.open_text(sealed, f"case-event:{case_id}"))
        return {"lat": float(detail["lat"]), "lon": float(detail["lon"])}

    async def still_room(self, case_id: str, capturer: str) -> None:
        """Refuse early, before the image is read, a still that the case's quotas have no room for."""
        async with self._sessions() as session:
            await self._open_case_row(session, case_id)
            await check_still_quota(session, self.still_limits, case_id, capturer, 0, self._clock.now())

    async def store_capture(self, case_id: str, capturer: str, image: bytes, source: str,
                            location: dict[str, float] | None = None) -> CaptureView:
        """Validate, strip metadata (re-encode), seal and record a still image for an open case. The blob is
        written before its row and removed if the row is not written (a quota reached meanwhile, a failure)."""
        await self.still_room(case_id, capturer)
        if location is None:  # a capture from the video, or a photo sent without a fix: where the caller last was
            location = await self.last_caller_location(case_id)
        jpeg, width, height = await asyncio.to_thread(clean_still, image, self.still_limits)
        capture_id, now = new_id(), self._clock.now()
        digest = hashlib.sha256(jpeg).hexdigest()
        await self._blobs.put(capture_id, jpeg)
        location_enc = (self._sealer.seal_text(json.dumps(location), f"capture-location:{capture_id}")
                        if location else None)
        try:
            async with self._sessions.begin() as session:
                await lock_case(session, case_id)
                await self._open_case_row(session, case_id)
                await check_still_quota(session, self.still_limits, case_id, capturer, len(jpeg), now)
                session.add(Capture(id=capture_id, case_id=case_id, at=now, capturer=capturer[:64], source=source,
                                    sha256=digest, size=len(jpeg), width=width, height=height,
                                    location_enc=location_enc))
        except BaseException:
            await self._blobs.delete(capture_id)
            raise
        await self.record(case_id, capturer, "capture", {"capture": capture_id, "source": source, "sha256": digest})
        await self._audit.record(AuditEvent(capturer, "caller" if capturer.startswith("caller:") else "",
                                            f"capture.store.{source}", f"case:{case_id}", "ok"))
        return CaptureView(capture_id, now, capturer, source, digest, len(jpeg), width, height, location)

    @staticmethod
    async def _open_case_row(session: AsyncSession, case_id: str) -> RegulationCase:
        case = await session.get(RegulationCase, case_id, populate_existing=True)
        if case is None or case.status != "open":
            raise NotFound("no open case")
        return case

    async def captures(self, caller: Principal, case_id: str) -> list[CaptureView]:
        await self._member_case(caller, case_id, "capture.list")
        async with self._sessions() as session:
            rows = await session.scalars(select(Capture).where(Capture.case_id == case_id).order_by(Capture.at))
            views = [self._capture_view(row) for row in rows]  # with the caller's position when it was shared
        await self._audit_access(caller, "capture.list", case_id, "ok")
        return views

    async def capture_image(self, caller: Principal, case_id: str, capture_id: str) -> tuple[CaptureView, bytes]:
        """The JPEG of one capture; access is re-checked and audited on every view."""
        await self._member_case(caller, case_id, "capture.view")
        async with self._sessions() as session:
            row = await session.get(Capture, capture_id) if looks_like_id(capture_id) else None
        if row is None or row.case_id != case_id:
            raise NotFound("no such capture")
        data = await self._blobs.get(capture_id)
        await self._audit_access(caller, "capture.view", case_id, "ok")
        return self._capture_view(row), data

    async def export(self, caller: Principal, case_id: str) -> dict[str, Any]:
        await self._member_case(caller, case_id, "case.export")
        await self._audit_access(caller, "case.export", case_id, "ok")
        case = await self.get(caller, case_id)
        return {"case": case.to_json(),
                "timeline": [entry.to_json() for entry in await self.timeline(caller, case_id)],
                "captures": [capture.to_json() for capture in await self.captures(caller, case_id)]}

    # -- helpers ---------------------------------------------------------------------------------------------
    async def _issue_link(self, case_id: str, actor: str) -> CallerLinkView:
        now = self._clock.now()
        link = CallerLink(jti=new_jti(), case_id=case_id, created_at=now, expires_at=now + self._link_ttl,
                          device_hash="")
        async with self._sessions.begin() as session:
            session.add(link)
        await self.record(case_id, actor, "link.created", {"jti": link.jti, "expires_at": link.expires_at.isoformat()})
        return self._link_view(link)

    def _link_view(self, link: CallerLink) -> CallerLinkView:
        token = self._signer.issue(LinkClaims(link.jti, link.case_id, "caller", link.expires_at))
        url = f"{self._public_url}/c/{token}"
        text = (f"SAMU : pour nous montrer la situation, ouvrez ce lien et autorisez la caméra : {url} "
                f"/ Emergency service: open this link and allow the camera.")
        return CallerLinkView(link.jti, url, text, link.expires_at)

    async def _member_case(self, caller: Principal, case_id: str, action: str) -> RegulationCase:
        row = None
        if caller.kind == "user" and looks_like_id(case_id):
            async with self._sessions() as session:
                member = await session.get(CaseMember, (case_id, caller.user_id))
                row = await session.get(RegulationCase, case_id) if member else None
        if row is None:
            await self._audit_access(caller, action, f"case:{case_id[:40]}", "denied")
            raise NotFound("no such case")
        return row

    async def _audit_access(self, caller: Principal, action: str, obj: str, result: str) -> None:
        if not obj.startswith(("case:", "user:")):
            obj = f"case:{obj}"
        await self._audit.record(AuditEvent(caller.actor, caller.role or caller.kind, action, obj, result))

    def _view(self, row: RegulationCase) -> CaseView:
        return CaseView(row.id, row.case_number, self._sealer.open_text(row.caller_phone_enc, f"case-phone:{row.id}"),
                        self._sealer.open_text(row.reason_enc, f"case-reason:{row.id}"), row.status, row.created_at,
                        row.closed_at)

    def _capture_view(self, row: Capture) -> CaptureView:
        location = (json.loads(self._sealer.open_text(row.location_enc, f"capture-location:{row.id}"))
                    if row.location_enc else None)
        return CaptureView(row.id, row.at, row.capturer, row.source, row.sha256, row.size, row.width, row.height,
                           location)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _caller_refusal(link: CallerLink | None, case: RegulationCase | None,
                    device_secret: str | None) -> tuple[str | None, str | None]:
    if link is None or case is None:
        return "invalid", None
    if case.status != "open":
        return "closed", None
    if link.revoked_at is not None:
        return "revoked", None
    if link.device_hash:
        if device_secret and hmac.compare_digest(_digest(device_secret), link.device_hash):
            return None, device_secret
        return "other_device", None
    return None, None
