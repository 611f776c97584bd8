"""Request-scoped values set by middleware (typed ``web.RequestKey``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..identity.sessions import Principal
from ..platform.audit import AuditContext

__all__ = ["principal_key", "principal_of", "json_body_key", "audit_context_key", "audit_context"]

principal_key = web.RequestKey("principal", Principal)
# The JSON body, parsed and checked once by the input middleware (server/web/middlewares.py).
json_body_key = web.RequestKey("json_body", Any)
audit_context_key = web.RequestKey("audit_context", AuditContext)


def principal_of(request: web.Request) -> Principal | None:
    return request.get(principal_key)


def audit_context(principal: Principal | None, remote: str | None) -> AuditContext:
    """Who acts (the session's principal, or an anonymous visitor) and from which address, for the audit log.

    ``remote`` is the TCP peer aiohttp reports (``request.remote``): ``X-Forwarded-For`` is not read, so a client
    cannot choose the address written in the log."""
    if principal is None:
        return AuditContext(remote=remote or "")
    return AuditContext(principal.actor, principal.role or principal.kind, principal.rpps, remote or "")
