"""Server-side browser sessions. The cookie holds a random token; the database keeps only its SHA-256.

A session belongs either to a professional (``user``) or to a patient/guest participant who exchanged a join
link (``participant``). Every request re-reads it, so revocation (logout, consultation end) takes effect at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .db import SessionFactory
from .models import CallerLink, Consultation, Participant, RegulationCase, User, WebSession

__all__ = ["Principal", "WebSessions", "COOKIE_NAME"]

COOKIE_NAME = "__Host-lucarne"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a professional account, or a participant bound to exactly one consultation."""

    kind: str  # "user" | "participant"
    session_hash: str
    csrf_token: str
    user_id: str | None = None
    role: str = ""
    display_name: str = ""
    participant_id: str | None = None
    consultation_id: str | None = None
    language: str = ""
    host_name: str = ""  # for participants: the consultation's practitioner
    case_id: str | None = None  # for callers (remote camera): their regulation case
    rpps: str = ""  # a professional's directory identifier, when their account has one (for the audit log)

    @property
    def actor(self) -> str:
        if self.kind == "caller":
            return f"caller:{self.case_id}"
        return self.user_id or f"participant:{self.participant_id}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WebSessions:
    def __init__(self, sessions: SessionFactory, clock: Clock, ttl_s: int) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)

    async def open_for_user(self, user_id: str) -> str:
        return await self._open(kind="user", user_id=user_id)

    async def open_for_participant(self, participant_id: str) -> str:
        return await self._open(kind="participant", participant_id=participant_id)

    async def open_for_caller(self, case_id: str, link_jti: str, ttl_s: int = 2 * 3600) -> str:
        return await self._open(kind="caller", case_id=case_id, link_jti=link_jti, ttl=timedelta(seconds=ttl_s))

    async def _open(self, *, kind: str, user_id: str | None = None, participant_id: str | None = None,
                    case_id: str | None = None, link_jti: str | None = None, ttl: timedelta | None = None) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            session.add(
                WebSession(
                    token_hash=_digest(token),
                    kind=kind,
                    user_id=user_id,
                    participant_id=participant_id,
                    case_id=case_id,
                    link_jti=link_jti,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    expires_at=now + (ttl or self._ttl),
                    revoked=False,
                )
            )
        return token

    async def resolve(self, token: str | None) -> Principal | None:
        """The principal for a cookie value, or ``None`` when unknown, expired, revoked or deactivated."""
        if not token or len(token) > 100:
            return None
        async with self._sessions() as session:
            row = await session.get(WebSession, _digest(token))
            if row is None or row.revoked or row.expires_at <= self._clock.now():
                return None
            if row.kind == "user" and row.user_id:
                user = await session.get(User, row.user_id)
                if user is None or not user.active:
                    return None
                return Principal("user", row.token_hash, row.csrf_token, user.id, user.role, user.display_name,
                                 rpps=user.rpps or "")
            if row.kind == "caller":
                return await _caller_principal(session, row)
            participant = await session.get(Participant, row.participant_id)
            if participant is None or participant.state == "removed":
                return None
            consultation = await session.get(Consultation, participant.consultation_id)
            if consultation is None or consultation.status in ("ended", "cancelled"):
                return None
            host = await session.get(User, consultation.practitioner_id)
            return Principal(
                "participant",
                row.token_hash,
                row.csrf_token,
                role=participant.kind,
                display_name=participant.label,
                participant_id=participant.id,
                consultation_id=participant.consultation_id,
                language=consultation.language,
                host_name=host.display_name if host else "",
            )

    async def revoke(self, session_hash: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(WebSession).where(WebSession.token_hash == session_hash).values(revoked=True)
            )

    async def revoke_participants_of(self, consultation_id: str) -> None:
        ids = select(Participant.id).where(Participant.consultation_id == consultation_id)
        async with self._sessions.begin() as session:
            await session.execute(
                update(WebSession).where(WebSession.participant_id.in_(ids)).values(revoked=True)
            )


async def _caller_principal(session: AsyncSession, row: WebSession) -> Principal | None:
    case = await session.get(RegulationCase, row.case_id) if row.case_id else None
    link = await session.get(CallerLink, row.link_jti) if row.link_jti else None
    if case is None or case.status != "open" or link is None or link.revoked_at is not None:
        return None
    return Principal("caller", row.token_hash, row.csrf_token, role="caller", case_id=case.id)
