"""Server-side browser sessions. The cookie holds a random token; the database keeps only its SHA-256.

A session belongs either to a professional (``user``) or to a patient/guest participant who exchanged a join
link (``participant``). Every request re-reads it, so revocation (logout, consultation end) takes effect at once;
open sockets are held to the same rules by ``socket_sessions.py`` (which uses :meth:`WebSessions.live` to re-check
many sessions at once).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..platform.clock import Clock
from ..platform.db import SessionFactory
from ..platform.models import CallerLink, Consultation, Participant, RegulationCase, User, WebSession

__all__ = ["Principal", "WebSessions", "COOKIE_NAME"]

COOKIE_NAME = "__Host-lucarne"
# Sessions checked per round of queries by WebSessions.live (well under SQLite's bound-parameter limit).
_LIVE_BATCH = 500


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

    async def live(self, session_hashes: Collection[str]) -> dict[str, datetime]:
        """Of these session hashes, those :meth:`resolve` would still accept, each with its expiry: the same rules
        in four queries per batch of sessions asked about."""
        hashes = list(session_hashes)
        accepted: dict[str, datetime] = {}
        for start in range(0, len(hashes), _LIVE_BATCH):
            accepted.update(await self._live_batch(hashes[start:start + _LIVE_BATCH]))
        return accepted

    async def _live_batch(self, hashes: list[str]) -> dict[str, datetime]:
        now = self._clock.now()
        async with self._sessions() as session:
            rows = list(await session.scalars(select(WebSession).where(
                WebSession.token_hash.in_(hashes), ~WebSession.revoked, WebSession.expires_at > now)))
            users = await _active_users(session, {r.user_id for r in rows if r.kind == "user" and r.user_id})
            participants = await _present_participants(
                session, {r.participant_id for r in rows if r.kind == "participant" and r.participant_id})
            callers = await _open_callers(session, [r for r in rows if r.kind == "caller"])
        return {
            r.token_hash: r.expires_at for r in rows
            if (r.kind == "user" and r.user_id in users)
            or (r.kind == "participant" and r.participant_id in participants)
            or (r.kind == "caller" and r.token_hash in callers)
        }

    async def revoke(self, session_hash: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(WebSession).where(WebSession.token_hash == session_hash).values(revoked=True)
            )

    async def revoke_participants_of(self, consultation_id: str) -> list[str]:
        """Revoke the sessions of a consultation's patients and guests; returns their hashes (to close sockets)."""
        ids = select(Participant.id).where(Participant.consultation_id == consultation_id)
        return await self._revoke_where(WebSession.participant_id.in_(ids))

    async def revoke_participant(self, participant_id: str) -> list[str]:
        """Revoke the sessions of one patient or guest (removed by the practitioner); returns their hashes."""
        return await self._revoke_where(WebSession.participant_id == participant_id)

    async def revoke_user(self, user_id: str) -> list[str]:
        """Revoke every session of one account (deactivation); returns their hashes (to close sockets)."""
        return await self._revoke_where(WebSession.user_id == user_id)

    async def _revoke_where(self, condition: Any) -> list[str]:
        async with self._sessions.begin() as session:
            hashes = list(await session.scalars(select(WebSession.token_hash).where(condition, ~WebSession.revoked)))
            if hashes:
                await session.execute(
                    update(WebSession).where(WebSession.token_hash.in_(hashes)).values(revoked=True))
        return hashes


async def _active_users(session: AsyncSession, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    return set(await session.scalars(select(User.id).where(User.id.in_(ids), User.active)))


async def _present_participants(session: AsyncSession, ids: set[str]) -> set[str]:
    """Participants not removed whose consultation is neither ended nor cancelled."""
    if not ids:
        return set()
    query = (select(Participant.id).join(Consultation, Consultation.id == Participant.consultation_id)
             .where(Participant.id.in_(ids), Participant.state != "removed",
                    Consultation.status.not_in(("ended", "cancelled"))))
    return set(await session.scalars(query))


async def _open_callers(session: AsyncSession, rows: list[WebSession]) -> set[str]:
    """Caller sessions whose case is open and whose caller link was not revoked."""
    if not rows:
        return set()
    query = (select(WebSession.token_hash)
             .join(RegulationCase, RegulationCase.id == WebSession.case_id)
             .join(CallerLink, CallerLink.jti == WebSession.link_jti)
             .where(WebSession.token_hash.in_([r.token_hash for r in rows]), RegulationCase.status == "open",
                    CallerLink.revoked_at.is_(None)))
    return set(await session.scalars(query))


async def _caller_principal(session: AsyncSession, row: WebSession) -> Principal | None:
    case = await session.get(RegulationCase, row.case_id) if row.case_id else None
    link = await session.get(CallerLink, row.link_jti) if row.link_jti else None
    if case is None or case.status != "open" or link is None or link.revoked_at is not None:
        return None
    return Principal("caller", row.token_hash, row.csrf_token, role="caller", case_id=case.id)
