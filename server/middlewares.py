"""Cross-cutting HTTP behaviour: principal loading, origin + CSRF checks, error translation, security headers."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from .context import audit_context, audit_context_key, principal_key, principal_of
from .errors import LucarneError
from .keys import audit_key, settings_key, web_sessions_key
from .outage import UNAVAILABLE_MESSAGE, database_unavailable
from .pages import render_error
from .sessions import COOKIE_NAME, Principal

__all__ = ["setup_middlewares", "SECURITY_HEADERS"]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LucarneError as exc:
        return _error_response(request, exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return _error_response(request, exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
    except Exception as exc:
        if database_unavailable(exc):  # a restart or failover: nothing was saved, retrying later is safe
            logger.warning("database unavailable on %s %s: %s", request.method, request.path, type(exc).__name__)
            response = _error_response(request, 503, "unavailable", UNAVAILABLE_MESSAGE)
            response.headers["Retry-After"] = "5"
            return response
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(request, 500, "internal", "Something went wrong on our side.")


@web.middleware
async def principal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(COOKIE_NAME)
    if token and not request.path.startswith("/static/"):
        principal = await request.app[web_sessions_key].resolve(token)
        if principal is not None:
            request[principal_key] = principal
    return await handler(request)


@web.middleware
async def audit_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Build the request's audit context once; every audit entry the handler writes carries it."""
    context = request[audit_context_key] = audit_context(principal_of(request), request.remote)
    with request.app[audit_key].bound(context):
        return await handler(request)


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in _UNSAFE and not request.path.startswith("/socket.io/"):
        if not _same_origin(request):
            return _error_response(request, 403, "bad_origin", "This request did not come from Lucarne's pages.")
        principal = principal_of(request)
        if principal is not None and not await _csrf_ok(request, principal):
            return _error_response(request, 403, "csrf", "The page expired; reload it and try again.")
    return await handler(request)


def _same_origin(request: web.Request) -> bool:
    """Origin must be ours. With ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` on form posts;
    then the browser-set ``Sec-Fetch-Site`` header (which pages cannot forge) must say ``same-origin``."""
    origin = request.headers.get("Origin", "")
    if origin in request.app[settings_key].origins:
        return True
    return origin in ("", "null") and request.headers.get("Sec-Fetch-Site") == "same-origin"


async def _csrf_ok(request: web.Request, principal: Principal) -> bool:
    supplied = request.headers.get("X-CSRF-Token", "")
    if not supplied and request.content_type == "application/x-www-form-urlencoded":
        supplied = str((await request.post()).get("csrf", ""))
    return hmac.compare_digest(supplied.encode(), principal.csrf_token.encode())


def _error_response(request: web.Request, status: int, code: str, message: str) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        return web.json_response({"error": code, "message": message}, status=status)
    return render_error(request, status, message)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def setup_middlewares(app: web.Application) -> None:
    app.middlewares.extend([error_middleware, principal_middleware, audit_context_middleware, csrf_middleware])
    app.on_response_prepare.append(_security_headers)
