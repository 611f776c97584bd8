"""Calls interrupted by a server process that died (``kill -9``, a crash, the machine losing power).

A process that stops cleanly runs its sockets' disconnect handlers, which take their participants offline. One
that dies leaves them marked online "on" a socket nobody holds. Each participant's ``connection`` therefore names
the server process holding the socket (:class:`ProcessNode`: host, pid and a random token), and at start-up, or
when a participant of the consultation joins again, a consultation in progress whose participants are online on a
process that no longer exists gets an ``interrupted`` event (with the time it was detected), and those
participants' presence is reset so that they re-join from the database state.

Only processes of this host can be checked (their pid); a participant held by another host's process is left as
it is (that host's processes check it when they start).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass

from sqlalchemy import select

from ..platform.clock import Clock
from ..platform.db import SessionFactory
from ..platform.models import Consultation, ConsultationEvent, Participant

__all__ = ["ProcessNode", "connection_of", "node_of", "socket_of", "recover_interrupted", "INTERRUPTED"]

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
_SEPARATOR = "|"
_ACTOR = "system"


@dataclass(frozen=True)
class ProcessNode:
    """One server process: ``host:pid:token`` (the token tells a reused pid from the process that died)."""

    host: str
    pid: int
    token: str

    @classmethod
    def current(cls) -> ProcessNode:
        return cls(socket.gethostname()[:24], os.getpid(), secrets.token_hex(3))

    @classmethod
    def parse(cls, text: str) -> ProcessNode | None:
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    def alive(self, here: ProcessNode) -> bool | None:
        """Whether this process still runs: ``None`` when it is on another host (it cannot be checked here)."""
        if self.host != here.host:
            return None
        if (self.pid, self.token) == (here.pid, here.token):
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def connection_of(node: ProcessNode, sid: str) -> str:
    """The value stored in ``participants.connection`` for a socket of ``node``."""
    return f"{node}{_SEPARATOR}{sid}"


def socket_of(connection: str) -> str:
    """The socket id inside a ``participants.connection`` value (what signaling needs to close that socket)."""
    return connection.rpartition(_SEPARATOR)[2]


def node_of(connection: str) -> ProcessNode | None:
    node, separator, _ = connection.rpartition(_SEPARATOR)
    return ProcessNode.parse(node) if separator else None


async def recover_interrupted(sessions: SessionFactory, clock: Clock, here: ProcessNode,
                              consultation_id: str | None = None) -> list[str]:
    """Mark every in-progress consultation (or only ``consultation_id``) whose online participants were held by a
    dead process of this host as interrupted; return their ids."""
    query = (select(Participant).join(Consultation, Consultation.id == Participant.consultation_id)
             .where(Participant.online, Consultation.status == "in_progress").with_for_update(of=Participant))
    if consultation_id is not None:
        query = query.where(Participant.consultation_id == consultation_id)
    now = clock.now()
    interrupted: dict[str, set[str]] = {}
    async with sessions.begin() as session:
        for row in await session.scalars(query):
            node = node_of(row.connection)
            if node is None or node.alive(here) is not False:
                continue
            interrupted.setdefault(row.consultation_id, set()).add(str(node))
            row.online, row.in_call, row.connection = False, False, ""
        for cid, nodes in interrupted.items():
            detail = f"detected {now.isoformat()} by {here}; lost {', '.join(sorted(nodes))}"
            session.add(ConsultationEvent(consultation_id=cid, at=now, actor=_ACTOR, event=INTERRUPTED, detail=detail))
    for cid in interrupted:
        logger.warning("consultation %s: call interrupted by a server process that stopped; presence reset", cid)
    return sorted(interrupted)
