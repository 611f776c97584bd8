"""SQLAlchemy tables for accounts, sessions, consultations and the audit log.

Health content (patient identity, chat, reports) is stored only as sealed bytes (see :mod:`server.platform.crypto`).
Alembic migrations in ``server/platform/migrations`` own the schema; these classes must match them (a test checks).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, UTCDateTime

__all__ = [
    "User",
    "WebSession",
    "LoginAttempt",
    "Consultation",
    "JoinLink",
    "Participant",
    "ChatMessage",
    "ConsultationEvent",
    "AuditEntry",
    "RegulationCase",
    "CaseMember",
    "CallerLink",
    "CaseEvent",
    "Capture",
]


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The account's entry in the professional directory (11-digit RPPS), if any.
    rpps: Mapped[str | None] = mapped_column(String(11), unique=True, nullable=True)


class WebSession(Base):
    """A browser session: a professional (``user_id``) or a patient/guest who exchanged a link (``participant_id``)."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    participant_id: Mapped[str | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    # Caller sessions (remote camera): the case and the caller link they came through.
    case_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    link_jti: Mapped[str | None] = mapped_column(String(32), nullable=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    success: Mapped[bool] = mapped_column(Boolean)


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    patient_enc: Mapped[bytes] = mapped_column(LargeBinary)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_min: Mapped[int] = mapped_column(Integer, default=20)
    language: Mapped[str] = mapped_column(String(5), default="fr")
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    report_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class JoinLink(Base):
    """Server-side half of a signed join token: lets a link be revoked and exchanged only once."""

    __tablename__ = "join_links"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultations.id"), index=True)
    role: Mapped[str] = mapped_column(String(12))
    label: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exchanged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Participant(Base):
    """A member of one consultation's call; the durable identity signaling keys on (never the socket id)."""

    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    label: Mapped[str] = mapped_column(String(60), default="")
    state: Mapped[str] = mapped_column(String(12))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    in_call: Mapped[bool] = mapped_column(Boolean, default=False)
    # The socket that joined last (any process); only its disconnect takes the participant offline.
    connection: Mapped[str] = mapped_column(String(64), default="")
    instance: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultations.id"), index=True)
    sender_id: Mapped[str] = mapped_column(String(32))
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsultationEvent(Base):
    """Every lifecycle transition, with who and when."""

    __tablename__ = "consultation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultations.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    """Append-only, hash-chained audit record. ``entry_hash`` = SHA-256(previous hash + canonical entry)."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    object: Mapped[str] = mapped_column(String(120))
    result: Mapped[str] = mapped_column(String(20))
    remote: Mapped[str] = mapped_column(String(64), default="")
    # The acting professional's RPPS where known; ``version`` says which fields the hash covers (see audit.py).
    rpps: Mapped[str] = mapped_column(String(20), default="", server_default="")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class RegulationCase(Base):
    """An emergency regulation case; caller phone and reason are sealed."""

    __tablename__ = "regulation_cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(40), index=True)
    caller_phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    reason_enc: Mapped[bytes] = mapped_column(LargeBinary)
    opened_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseMember(Base):
    """Professionals who may watch and act on a case (the regulator who opened it, a regulating doctor...)."""

    __tablename__ = "case_members"

    case_id: Mapped[str] = mapped_column(ForeignKey("regulation_cases.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CallerLink(Base):
    """Single-use caller link: the first device to open it owns it (``device_hash``); others are refused."""

    __tablename__ = "caller_links"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("regulation_cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    device_hash: Mapped[str] = mapped_column(String(64), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseEvent(Base):
    """The case timeline: every event, in order, with a sealed JSON detail (locations are personal data)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("regulation_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    detail_enc: Mapped[bytes] = mapped_column(LargeBinary)


class Capture(Base):
    """A still image stored encrypted in the blob store under a server-generated id."""

    __tablename__ = "captures"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("regulation_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    capturer: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(12))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    location_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
