"""The host side of signaling: who may join a consultation's call, be admitted, signal whom, and chat.

Implements :class:`signaling.CallAuthority` over the database, so every decision reads durable state and any
server process can take any socket. The ``Member`` a socket holds is a snapshot; rules re-read the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signaling import Caller, Denied, JoinOutcome, Member, WrongState

from ..config import IceSettings
from ..identity.sessions import COOKIE_NAME, Principal, WebSessions
from ..identity.socket_sessions import SocketSessions
from ..platform.audit import AuditEvent, AuditLog
from ..platform.clock import Clock
from ..platform.crypto import Sealer
from ..platform.db import SessionFactory
from ..platform.errors import Conflict
from ..platform.ids import new_id
from ..platform.models import ChatMessage, Consultation, ConsultationEvent, Participant
from ..platform.turn import ice_configuration
from .interruptions import ProcessNode, connection_of, recover_interrupted, socket_of
from .lifecycle import PARTICIPANT, check_transition
from .route_cache import Route, RouteCache

__all__ = ["CallRules", "cookie_token"]

logger = logging.getLogger(__name__)

_OPEN = ("scheduled", "in_progress")
# An allowed route is re-checked every 10 s when several processes share the database (a refusal every second).
# A single process makes every change itself and clears the routes concerned at once, so it re-checks allowed
# routes only every minute, as a safety net.
ROUTE_CACHE_S = 10.0
SINGLE_PROCESS_ROUTE_CACHE_S = 60.0
DENIED_CACHE_S = 1.0


def cookie_token(cookie_header: str | None) -> str | None:
    """The session token from a ``Cookie`` header, or ``None``."""
    if not cookie_header or len(cookie_header) > 8192:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE_NAME)
    return morsel.value if morsel else None


class CallRules:
    def __init__(
        self, sessions: SessionFactory, web_sessions: WebSessions, clock: Clock, sealer: Sealer,
        audit: AuditLog, ice: IceSettings, media: dict[str, Any] | None = None, *,
        socket_sessions: SocketSessions, route_cache_s: float = ROUTE_CACHE_S,
    ) -> None:
        self._sessions = sessions
        self._web_sessions = web_sessions
        self._socket_sessions = socket_sessions
        self._clock = clock
        self._sealer = sealer
        self._audit = audit
        self._ice = ice
        # What the pages need to know about server relay: {"relay": auto|always|never, "p2pTimeoutMs": ...}.
        self._media = dict(media or {"relay": "never"})
        self._routes = RouteCache(self._lookup_route, allowed_s=route_cache_s, denied_s=DENIED_CACHE_S)
        # Client address of each participant's joined socket in this process (for audit entries of socket events).
        self._remotes: dict[str, str] = {}
        # This process, as named in the participants it holds online (see interruptions.py).
        self._node = ProcessNode.current()

    async def authenticate(self, environ: Mapping[str, Any]) -> Caller | None:
        token = cookie_token(environ.get("HTTP_COOKIE"))
        principal = await self._web_sessions.resolve(token)
        if principal is None or token is None:
            return None
        request = environ.get("aiohttp.request")  # engine.io's REMOTE_ADDR is a constant placeholder
        return Caller(ref=token, professional=principal.kind == "user", session=principal.session_hash,
                      remote=(request.remote or "") if request is not None else "")

    async def session_live(self, caller: Caller) -> bool:
        return await self._socket_sessions.is_live(caller.session)

    async def join(self, caller: Caller, consultation_id: str | None, instance: str) -> JoinOutcome:
        principal = await self._web_sessions.resolve(caller.ref)
        if principal is None:
            raise Denied("your session has ended")
        replaced: str | None = None
        if principal.consultation_id or consultation_id:  # a call cut by a dead process is recorded as such
            await recover_interrupted(self._sessions, self._clock, self._node,
                                      principal.consultation_id or consultation_id)
        if principal.kind == "user":
            row = await self._join_as_staff(principal, consultation_id, instance)
        else:
            if consultation_id not in (None, principal.consultation_id):
                await self._deny(principal, "call.join", consultation_id or "")
                raise Denied("no such consultation")
            row, replaced = await self._join_participant(principal, instance)
        member = _member(row)
        self._remotes[member.participant_id] = caller.remote
        await self._audit.record(AuditEvent(principal.actor, principal.role, "call.join",
                                            f"consultation:{member.consultation_id}", "ok", caller.remote,
                                            principal.rpps))
        return JoinOutcome(member, await self._join_extra(member), replaced=replaced)

    async def ready(self, member: Member) -> Member:
        async with self._sessions.begin() as session:
            row = await _open_participant(session, member.participant_id)
            if row.state in ("checking", "left"):
                check_transition(PARTICIPANT, row.state, "waiting", "participant")
                row.state = "waiting"
                _event(session, row.consultation_id, self._clock, row.id, "waiting")
            return _member(row)

    async def admit(self, member: Member, participant_id: str) -> Member:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            consultation = await session.get(Consultation, member.consultation_id, with_for_update=True)
            target = await session.get(Participant, participant_id, with_for_update=True)
            if consultation is None or consultation.status not in _OPEN:
                raise WrongState("this consultation is over")
            if target is None or target.consultation_id != member.consultation_id:
                raise Denied("no such participant")
            _check(PARTICIPANT, target.state, "admitted")
            target.state, target.admitted_at = "admitted", now
            if consultation.status == "scheduled":
                consultation.status, consultation.started_at = "in_progress", now
                _event(session, consultation.id, self._clock, member.participant_id, "started")
            _event(session, consultation.id, self._clock, member.participant_id, "admitted", target.id)
            admitted = _member(target)
        self.forget_routes(participant_id)
        await self._audit.record(AuditEvent(member.participant_id, member.kind, "call.admit",
                                            f"consultation:{member.consultation_id}", "ok"))
        return admitted

    async def enter(self, member: Member) -> tuple[Member, list[Member]]:
        async with self._sessions.begin() as session:
            row = await _open_participant(session, member.participant_id)
            if row.state != "admitted":
                raise WrongState("wait to be admitted")
            row.in_call = True
            others = await session.scalars(
                select(Participant).where(
                    Participant.consultation_id == row.consultation_id,
                    Participant.id != row.id,
                    Participant.state == "admitted",
                    Participant.in_call,
                    Participant.online,
                )
            )
            return _member(row), [_member(other) for other in others]

    async def chat_so_far(self, member: Member) -> list[dict[str, Any]]:
        return await self.chat_history(member.consultation_id)

    async def signal_route(self, member: Member, to: str) -> Route:
        """Checked against the database once, then served from the route cache (``route_cache.py``): a call's
        signaling (an offer, a dozen candidates, restarts) never waits for the database after its first message."""
        return await self._routes.get(member.consultation_id, member.participant_id, to)

    async def _lookup_route(self, consultation_id: str, sender_id: str, target_id: str) -> Route:
        query = (
            select(Participant.id, Participant.consultation_id, Participant.state, Participant.online,
                   Consultation.status)
            .join(Consultation, Consultation.id == Participant.consultation_id)
            .where(Participant.id.in_([sender_id, target_id]))
        )
        async with self._sessions() as session:
            rows = {row.id: row for row in await session.execute(query)}
        sender, target = rows.get(sender_id), rows.get(target_id)
        allowed = (
            sender is not None
            and target is not None
            and sender_id != target_id
            and sender.consultation_id == target.consultation_id == consultation_id
            and sender.status == "in_progress"
            and sender.state == target.state == "admitted"
        )
        return bool(target.online) if allowed and target is not None else None

    async def check_relay(self, member: Member, other: str) -> None:
        """Raise ``Denied`` unless ``member`` and ``other`` are both admitted and in the call of the same
        in-progress consultation. Read from the database on every relay request (no cache: media is costly)."""
        async with self._sessions() as session:
            rows = {row.id: row for row in await session.scalars(
                select(Participant).where(Participant.id.in_([member.participant_id, other])))}
            consultation = await session.get(Consultation, member.consultation_id)
        me, them = rows.get(member.participant_id), rows.get(other)
        allowed = (
            consultation is not None and consultation.status == "in_progress"
            and me is not None and them is not None and me.id != them.id
            and me.consultation_id == them.consultation_id == member.consultation_id
            and me.state == them.state == "admitted" and me.in_call and them.in_call
        )
        if not allowed:
            await self._audit.record(AuditEvent(member.participant_id, member.kind, "call.relay",
                                                f"consultation:{member.consultation_id}", "denied"))
            raise Denied("media can only be relayed between two members in this call")

    def forget_routes(self, participant_id: str | None = None) -> None:
        """Drop cached signaling routes of one participant (admission, departure, presence), or all (end)."""
        self._routes.forget(participant_id)

    async def close(self) -> None:
        await self._routes.close()

    async def chat(self, member: Member, text: str) -> dict[str, Any]:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            row = await _open_participant(session, member.participant_id)
            if row.state != "admitted":
                raise WrongState("chat opens once you are admitted")
            message = ChatMessage(
                consultation_id=row.consultation_id,
                sender_id=row.id,
                body_enc=self._sealer.seal_text(text, f"chat:{row.consultation_id}"),
                created_at=now,
            )
            session.add(message)
            await session.flush()
            sent = {"id": message.id, "from": row.id, "label": row.label or row.kind, "kind": row.kind,
                    "text": text, "at": now.isoformat()}
        await self._audit.record(AuditEvent(member.participant_id, member.kind, "chat.write",
                                            f"consultation:{member.consultation_id}", "ok",
                                            self._remotes.get(member.participant_id, "")))
        return sent

    async def leave(self, member: Member) -> None:
        async with self._sessions.begin() as session:
            row = await _open_participant(session, member.participant_id)
            row.in_call = False
            if row.kind != "practitioner" and row.state != "left":
                _check(PARTICIPANT, row.state, "left")
                row.state = "left"
            _event(session, row.consultation_id, self._clock, row.id, "left")
        self.forget_routes(member.participant_id)

    async def recover_interrupted(self) -> list[str]:
        """At start-up: record the calls a dead process of this host left with participants online (a database
        that is not reachable yet must not stop the start: the next join of each call checks again)."""
        try:
            return await recover_interrupted(self._sessions, self._clock, self._node)
        except Exception:
            logger.exception("could not check for calls interrupted by a stopped process")
            return []

    async def presence(self, member: Member, online: bool, connection: str) -> None:
        connection = connection_of(self._node, connection)
        async with self._sessions.begin() as session:
            # A removed participant's sockets still go offline (their close is how the removal takes effect).
            row = await _participant(session, member.participant_id) if online \
                else await session.get(Participant, member.participant_id, with_for_update=True)
            if row is None:
                return
            if online:
                row.online, row.connection = True, connection
            elif row.connection == connection:
                row.online = False
                self._remotes.pop(member.participant_id, None)
        self.forget_routes(member.participant_id)

    async def waiting_room(self, consultation_id: str) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Participant)
                .where(Participant.consultation_id == consultation_id, Participant.kind != "practitioner",
                       Participant.state != "removed")
                .order_by(Participant.created_at)
            )
            return [{"id": r.id, "kind": r.kind, "label": r.label, "state": r.state, "online": r.online,
                     "in_call": r.in_call} for r in rows]

    async def chat_history(self, consultation_id: str, limit: int = 200) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = list(await session.scalars(
                select(ChatMessage).where(ChatMessage.consultation_id == consultation_id)
                .order_by(ChatMessage.id.desc()).limit(limit)
            ))
            senders = {p.id: p for p in await session.scalars(
                select(Participant).where(Participant.consultation_id == consultation_id))}
        history = []
        for row in reversed(rows):
            sender = senders.get(row.sender_id)
            history.append({
                "id": row.id, "from": row.sender_id, "kind": sender.kind if sender else "",
                "label": (sender.label or sender.kind) if sender else "",
                "text": self._sealer.open_text(row.body_enc, f"chat:{consultation_id}"),
                "at": row.created_at.isoformat(),
            })
        return history

    # -- helpers ---------------------------------------------------------------------------------------------
    async def _join_as_staff(self, principal: Principal, consultation_id: str | None, instance: str) -> Participant:
        row: Participant | None = None  # stays None when this professional may not join
        async with self._sessions.begin() as session:
            consultation = await session.get(Consultation, consultation_id) if consultation_id else None
            if consultation is not None and consultation.practitioner_id == principal.user_id:
                if consultation.status not in _OPEN:
                    raise WrongState("this consultation is over")
                row = await session.scalar(select(Participant).where(
                    Participant.consultation_id == consultation.id, Participant.user_id == principal.user_id))
                if row is None:
                    row = Participant(id=new_id(), consultation_id=consultation.id, kind="practitioner",
                                      user_id=principal.user_id, label=principal.display_name, state="admitted",
                                      online=False, in_call=False, instance=instance,
                                      created_at=self._clock.now(), admitted_at=self._clock.now())
                    session.add(row)
                row.instance = instance
        if row is None:
            await self._deny(principal, "call.join", consultation_id or "")
            raise Denied("no such consultation")
        return row

    async def _join_participant(self, principal: Principal, instance: str) -> tuple[Participant, str | None]:
        """Bind the participant's socket; a join from another page instance while its socket is still online is a
        second device (a copied session cookie, or a second tab): it goes back to the waiting room, and the
        connection it displaces is returned so that signaling closes it. A reconnect keeps its instance, and a
        reload's old socket is normally gone already, so neither needs admitting again."""
        participant_id = principal.participant_id or ""
        async with self._sessions.begin() as session:
            row = await _participant(session, participant_id)
            another_device = bool(row.online and row.connection) and row.instance != instance
            replaced = socket_of(row.connection) if another_device and row.connection else None
            if replaced is not None:
                if row.state == "admitted":
                    _check(PARTICIPANT, row.state, "waiting")
                    row.state, row.in_call = "waiting", False
                _event(session, row.consultation_id, self._clock, row.id, "other_device")
            row.instance = instance
        if replaced is not None:
            self.forget_routes(participant_id)
            await self._audit.record(AuditEvent(principal.actor, principal.role, "call.second_device",
                                                f"consultation:{row.consultation_id}", "ok"))
        return row, replaced

    async def _join_extra(self, member: Member) -> dict[str, Any]:
        async with self._sessions() as session:
            consultation = await session.get(Consultation, member.consultation_id)
        assert consultation is not None
        extra: dict[str, Any] = {
            "consultation": {"id": consultation.id, "status": consultation.status},
            "ice": ice_configuration(self._ice, member.participant_id, self._clock.now()),
            "media": self._media,
        }
        if member.state == "admitted":
            extra["chat"] = await self.chat_history(member.consultation_id)
        return extra

    async def _deny(self, principal: Principal, action: str, obj: str) -> None:
        await self._audit.record(AuditEvent(principal.actor, principal.role or principal.kind, action,
                                            f"consultation:{obj[:40]}", "denied"))


async def _participant(session: AsyncSession, participant_id: str) -> Participant:
    row = await session.get(Participant, participant_id, with_for_update=True)
    if row is None or row.state == "removed":
        raise Denied("you are no longer part of this consultation")
    return row


async def _open_participant(session: Any, participant_id: str) -> Participant:
    """The participant, locked, refusing every action once its consultation ended or was cancelled: a socket still
    open then (another process, a notice in flight) gets nothing accepted. The shared lock orders it with the end
    (which locks the consultation for update): a chat row is never stored after the end committed. Consultation
    before participant, the order ``admit`` takes them in."""
    consultation_id = await session.scalar(select(Participant.consultation_id).where(Participant.id == participant_id))
    consultation = (await session.get(Consultation, consultation_id, with_for_update={"read": True})
                    if consultation_id else None)
    if consultation is not None and consultation.status not in _OPEN:
        raise WrongState("this consultation is over")
    return await _participant(session, participant_id)


def _member(row: Participant) -> Member:
    return Member(participant_id=row.id, consultation_id=row.consultation_id, kind=row.kind, label=row.label,
                  state=row.state, staff=row.kind == "practitioner", instance=row.instance)


def _check(machine: dict[str, frozenset[str]], current: str, target: str) -> None:
    try:
        check_transition(machine, current, target, "participant")
    except Conflict as exc:
        raise WrongState(exc.message) from exc


def _event(session: Any, consultation_id: str, clock: Clock, actor: str, event: str, detail: str = "") -> None:
    session.add(ConsultationEvent(consultation_id=consultation_id, at=clock.now(), actor=actor, event=event,
                                  detail=detail))

