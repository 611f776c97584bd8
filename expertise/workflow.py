"""After acceptance: the thread, requests for more information, the answer report, closing with the outcome,
the link to a teleconsultation, and billing codes (with the yearly cap per patient)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .deadlines import ANSWER_ESCALATION, ANSWER_REMINDER
from .request_errors import BillingLimitReached, InvalidRequest, RequestForbidden
from .request_input import MAX_MESSAGE, AnswerReport
from .request_models import BillingAct, RequestMessage
from .request_ports import Actor, Notice
from .requests import ExpertiseRequests, RequestDetail, _role_on

__all__ = ["ExpertiseService", "MessageView", "BILLING_CODES", "MAX_ACTS_PER_PATIENT_YEAR"]

# France: the requester bills RQD, the expert TE2; each at most 4 times a year for the same patient.
BILLING_CODES = {"RQD": "requester", "TE2": "expert"}
MAX_ACTS_PER_PATIENT_YEAR = 4
_THREAD_STATES = frozenset({"accepted", "info_requested", "answered"})


@dataclass(frozen=True)
class MessageView:
    id: int
    at: datetime
    author: str
    author_role: str
    kind: str  # message | info_request | info_reply
    body: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "at": self.at.isoformat(), "author": self.author, "author_role": self.author_role,
                "kind": self.kind, "body": self.body}


def _body(text: str) -> str:
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise InvalidRequest("the message is empty")
    if len(text) > MAX_MESSAGE:
        raise InvalidRequest(f"a message is limited to {MAX_MESSAGE} characters")
    return text


class ExpertiseService(ExpertiseRequests):
    """The whole request workflow (see :class:`ExpertiseRequests` for submission, routing and reads)."""

    async def post_message(self, actor: Actor, rid: str, text: str) -> MessageView:
        return await self._message(actor, rid, _body(text), "message", None)

    async def request_info(self, actor: Actor, rid: str, text: str) -> MessageView:
        """The specialist asks the requester for more information (accepted → info_requested)."""
        return await self._message(actor, rid, _body(text), "info_request", "info_requested", expert=True)

    async def provide_info(self, actor: Actor, rid: str, text: str) -> MessageView:
        """The requester answers a request for information (info_requested → accepted)."""
        return await self._message(actor, rid, _body(text), "info_reply", "accepted", requester=True)

    async def _message(self, actor: Actor, rid: str, body: str, kind: str, target: str | None, *,
                       requester: bool = False, expert: bool = False) -> MessageView:
        now = self._clock.now()
        async with self._changing(actor, rid, f"expertise.{kind}", requester=requester,
                                  expert=expert) as (session, row):
            if target is not None:
                self.dispatcher.move(session, row, target, actor.label, now)
            elif row.status not in _THREAD_STATES:
                raise InvalidRequest("messages can be exchanged once a specialist has accepted the request")
            role = _role_on(actor, row) or ""
            message = RequestMessage(request_id=rid, at=now, author=actor.label, author_role=role, kind=kind,
                                     body_enc=self._seal(body, "message", rid))
            session.add(message)
            await session.flush()
            other = (Notice(f"request.{kind}", rid, row.status, rpps=row.assigned_rpps) if role == "requester"
                     else Notice(f"request.{kind}", rid, row.status, user_id=row.requester_id))
        await self._record(actor, f"expertise.{kind}", f"expertise:{rid}", "ok")
        await self._send([other])
        return MessageView(message.id, now, actor.label, role, kind, body)

    async def thread(self, actor: Actor, rid: str) -> list[MessageView]:
        async with self._sessions() as session:
            await self._visible(session, actor, rid, "expertise.thread")
            rows = await session.scalars(select(RequestMessage).where(RequestMessage.request_id == rid)
                                         .order_by(RequestMessage.id))
            messages = [MessageView(m.id, m.at, m.author, m.author_role, m.kind,
                                    self._open(m.body_enc, "message", rid)) for m in rows]
        await self._record(actor, "expertise.thread", f"expertise:{rid}", "ok")
        return messages

    async def answer(self, actor: Actor, rid: str, report: AnswerReport) -> RequestDetail:
        """The specialist's answer report (accepted → answered); its timers are cancelled."""
        now = self._clock.now()
        async with self._changing(actor, rid, "expertise.answer", expert=True) as (session, row):
            self.dispatcher.move(session, row, "answered", actor.label, now,
                                 f"consultation needed: {report.consultation_needed}")
            row.answer_enc = self._seal(json.dumps(report.to_json()), "answer", rid)
            row.consultation_needed, row.answered_at = report.consultation_needed, now
            await self.dispatcher.cancel_timers(session, rid, (ANSWER_REMINDER, ANSWER_ESCALATION), now)
        await self._record(actor, "expertise.answer", f"expertise:{rid}", "ok")
        await self._send([Notice("request.answered", rid, "answered", user_id=row.requester_id)])
        return await self.get(actor, rid)

    async def close(self, actor: Actor, rid: str, referral_avoided: bool) -> RequestDetail:
        """The requester closes an answered request and records the outcome (was a referral avoided?)."""
        now = self._clock.now()
        async with self._changing(actor, rid, "expertise.close", requester=True) as (session, row):
            self.dispatcher.move(session, row, "closed", actor.label, now,
                                 f"referral avoided: {'yes' if referral_avoided else 'no'}")
            row.referral_avoided, row.closed_at = referral_avoided, now
        await self._record(actor, "expertise.close", f"expertise:{rid}", "ok")
        return await self.get(actor, rid)

    async def link_consultation(self, actor: Actor, rid: str, consultation_id: str, expert_link: str) -> None:
        """Record the teleconsultation the requester opened with the specialist (server creates it)."""
        async with self._changing(actor, rid, "expertise.teleconsultation",
                                  requester=True) as (_session, row):
            row.consultation_id = consultation_id
            row.consultation_link_enc = self._seal(expert_link, "consultation-link", rid)
        await self._record(actor, "expertise.teleconsultation", f"expertise:{rid}", "ok")
        await self._send([Notice("request.teleconsultation", rid, row.status, rpps=row.assigned_rpps)])

    async def check_teleconsultation(self, actor: Actor, rid: str) -> tuple[RequestDetail, str]:
        """The request and the specialist's display label, if a teleconsultation may be opened for it now."""
        detail = await self.get(actor, rid)
        if detail.summary.my_role != "requester":
            raise RequestForbidden("the requester opens the teleconsultation")
        if detail.summary.status not in _THREAD_STATES:
            raise InvalidRequest("a teleconsultation can be opened once a specialist has accepted the request")
        if detail.consultation_id:
            raise InvalidRequest("a teleconsultation was already opened for this request")
        return detail, detail.summary.assigned_rpps or ""

    async def bill(self, actor: Actor, rid: str, code: str) -> dict[str, object]:
        """Attach a billing code: RQD by the requester, TE2 by the expert, once per request, once answered."""
        if code not in BILLING_CODES:
            raise InvalidRequest(f"billing code must be one of {', '.join(BILLING_CODES)}")
        now = self._clock.now()
        wanted = BILLING_CODES[code]
        try:
            async with self._changing(actor, rid, "expertise.bill", requester=wanted == "requester",
                                      expert=wanted == "expert") as (session, row):
                if row.status not in ("answered", "closed"):
                    raise InvalidRequest("billing codes can be attached once the expert has answered")
                used = await session.scalar(select(func.count()).where(
                    BillingAct.patient_key == row.patient_key, BillingAct.code == code,
                    BillingAct.professional == actor.label, BillingAct.year == now.year))
                if (used or 0) >= MAX_ACTS_PER_PATIENT_YEAR:
                    raise BillingLimitReached(
                        f"{code} was already billed {used} times in {now.year} for this patient: the French rules "
                        f"allow at most {MAX_ACTS_PER_PATIENT_YEAR} tele-expertise acts per patient per year "
                        "(for the same professional). This request can go on, but it cannot be billed.")
                session.add(BillingAct(request_id=rid, code=code, professional=actor.label,
                                       patient_key=row.patient_key, year=now.year, at=now))
        except IntegrityError as exc:
            raise InvalidRequest(f"{code} is already attached to this request") from exc
        await self._record(actor, "expertise.bill", f"expertise:{rid}", "ok")
        return {"code": code, "year": now.year, "count": (used or 0) + 1, "limit": MAX_ACTS_PER_PATIENT_YEAR}
