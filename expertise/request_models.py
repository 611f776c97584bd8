"""Tables of second-opinion requests (schema owned by migration 0005; a test compares them).

Health content (patient identity, question, context, messages, answer) is stored only as sealed bytes.
These tables share the domain's ``MetaData`` (``expertise.models.metadata``) with the directory. The columns
that name accounts (``requester_id``, ``actor``) carry no foreign key to ``users``, which belongs to ``server``
(a domain may not import it): the service only ever writes ids of authenticated accounts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .models import UTCDateTime, metadata

__all__ = ["RequestsBase", "ExpertiseRequest", "RequestTransition", "RequestOffer", "RequestTimer",
           "RequestMessage", "RequestAttachment", "BillingAct"]


class RequestsBase(DeclarativeBase):
    metadata = metadata


_UTC = UTCDateTime


class ExpertiseRequest(RequestsBase):
    __tablename__ = "expertise_requests"
    __table_args__ = (Index("ix_expertise_requests_assigned_status", "assigned_rpps", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requester_id: Mapped[str] = mapped_column(String(32), index=True)
    requester_rpps: Mapped[str | None] = mapped_column(String(11), nullable=True)
    specialty: Mapped[str] = mapped_column(String(80))
    urgency: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(16))
    commune: Mapped[str | None] = mapped_column(String(5), nullable=True)
    language: Mapped[str | None] = mapped_column(String(5), nullable=True)
    identity_status: Mapped[str] = mapped_column(String(12))
    patient_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # Keyed hash of the patient's identity: counts billed acts per patient without opening the identity.
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    question_enc: Mapped[bytes] = mapped_column(LargeBinary)
    context_enc: Mapped[bytes] = mapped_column(LargeBinary)
    consent_enc: Mapped[bytes] = mapped_column(LargeBinary)
    assigned_rpps: Mapped[str | None] = mapped_column(String(11), nullable=True)
    created_at: Mapped[datetime] = mapped_column(_UTC)
    offered_at: Mapped[datetime | None] = mapped_column(_UTC, nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(_UTC, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(_UTC, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(_UTC, nullable=True)
    # The answer deadline promised to the requester (from the urgency), fixed at submission.
    answer_due_at: Mapped[datetime] = mapped_column(_UTC)
    answer_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    consultation_needed: Mapped[str | None] = mapped_column(String(16), nullable=True)
    consultation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The specialist's join link to that teleconsultation, sealed (it admits whoever holds it).
    consultation_link_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    referral_avoided: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class RequestTransition(RequestsBase):
    """Every lifecycle move, with who and when (``detail`` never holds health content)."""

    __tablename__ = "expertise_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("expertise_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(_UTC)
    actor: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class RequestOffer(RequestsBase):
    """One offer of a request to one specialist; a specialist is never offered the same request twice."""

    __tablename__ = "expertise_offers"
    __table_args__ = (Index("uq_expertise_offers_request_rpps", "request_id", "rpps", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("expertise_requests.id"), index=True)
    rpps: Mapped[str] = mapped_column(String(11))
    offered_at: Mapped[datetime] = mapped_column(_UTC)
    expires_at: Mapped[datetime] = mapped_column(_UTC)
    # pending → accepted | declined | expired | revoked (re-routed away after escalation, or cancelled)
    outcome: Mapped[str] = mapped_column(String(12))
    decided_at: Mapped[datetime | None] = mapped_column(_UTC, nullable=True)


class RequestTimer(RequestsBase):
    """A durable deadline. A firing process claims it with a guarded UPDATE, in the transaction that acts on it."""

    __tablename__ = "expertise_timers"
    __table_args__ = (Index("ix_expertise_timers_due", "claimed_at", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("expertise_requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    # The offer an offer-expiry timer belongs to: a stale timer never expires a newer offer.
    offer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due_at: Mapped[datetime] = mapped_column(_UTC)
    created_at: Mapped[datetime] = mapped_column(_UTC)
    claimed_at: Mapped[datetime | None] = mapped_column(_UTC, nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[str] = mapped_column(String(24), default="")


class RequestMessage(RequestsBase):
    """The thread between requester and specialist: messages, requests for information and their replies."""

    __tablename__ = "expertise_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("expertise_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(_UTC)
    author: Mapped[str] = mapped_column(String(64))
    author_role: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(16))
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)


class RequestAttachment(RequestsBase):
    """A JPEG, PNG or PDF sealed in the blob store under its server-generated id."""

    __tablename__ = "expertise_attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("expertise_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(_UTC)
    uploader: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(40))
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class BillingAct(RequestsBase):
    """A billing code attached to a request (RQD by the requester, TE2 by the expert)."""

    __tablename__ = "expertise_billing"
    __table_args__ = (Index("uq_expertise_billing_request_code", "request_id", "code", unique=True),
                      Index("ix_expertise_billing_patient_year", "patient_key", "code", "year"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("expertise_requests.id"))
    code: Mapped[str] = mapped_column(String(8))
    professional: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(_UTC)
