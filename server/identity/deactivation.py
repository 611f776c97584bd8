"""Deactivating a professional account ends it everywhere at once: no login, no session, no open socket.

One service call for every entry point (the ``lucarne deactivate-user`` command today, an admin page later).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ..platform.audit import AuditEvent, AuditLog
from .accounts import Account, Accounts
from .sessions import WebSessions

__all__ = ["Deactivated", "deactivate_account"]

# Told the hashes of the sessions just revoked: closes their sockets (SocketSessions.end in a server process, a
# Redis notice from the command line; each server's sweep closes them within a second even without it).
SessionsEnded = Callable[[Sequence[str]], Awaitable[None]]


@dataclass(frozen=True)
class Deactivated:
    account: Account
    sessions_revoked: int


async def deactivate_account(accounts: Accounts, web_sessions: WebSessions, audit: AuditLog,
                             sessions_ended: SessionsEnded, username: str, *, actor: str,
                             actor_role: str) -> Deactivated:
    """Raise ``NotFound`` for an unknown user name."""
    account = await accounts.deactivate(username)
    hashes = await web_sessions.revoke_user(account.id)
    await sessions_ended(hashes)
    await audit.record(AuditEvent(actor[:64], actor_role, "account.deactivate", f"user:{account.id}", "ok"))
    return Deactivated(account, len(hashes))
