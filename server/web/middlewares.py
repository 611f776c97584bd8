"""Cross-cutting HTTP behaviour: principal loading, origin + CSRF checks, error translation, security headers."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web, web_response

from ..identity.sessions import COOKIE_NAME, Principal
from ..keys import audit_key, settings_key, web_sessions_key
from ..platform.errors import LucarneError
from ..platform.outage import UNAVAILABLE_MESSAGE, database_unavailable
from .context import audit_context, audit_context_key, json_body_key, principal_key, principal_of
from .inputs import check_path, check_urlencoded, parse_json
from .shared_pages import render_error

__all__ = ["setup_middlewares", "SECURITY_HEADERS", "SERVER_HEADER"]

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
# What ``Server`` says on every response: no library, no version (aiohttp's default names both, and Python's).
SERVER_HEADER = "Lucarne"
# Responses under these prefixes may hold health data: no cache (browser, proxy) may keep them.
_NO_STORE_PREFIXES = ("/api/", "/fhir/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LucarneError as exc:
        response = _error_response(request, exc.status, exc.code, exc.message)
        if exc.retry_after_s is not None:
            response.headers["Retry-After"] = str(max(1, int(exc.retry_after_s)))
        return response
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
async def input_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse text that is not valid Unicode wherever a client can put it (path, query, form or JSON body), and
    JSON nested too deeply, before any handler sees it: one place instead of every route."""
    path, _, query = request.raw_path.encode("utf-8", "surrogateescape").partition(b"?")
    check_path(path, request.match_info)
    check_urlencoded(query, "query string")
    if request.method in _UNSAFE and request.body_exists and not request.path.startswith("/socket.io/"):
        if request.content_type == "application/json":
            request[json_body_key] = parse_json(await _read_small_body(request))
        elif request.content_type == "application/x-www-form-urlencoded":
            check_urlencoded(await _read_small_body(request), "form")
    return await handler(request)


async def _read_small_body(request: web.Request) -> bytes:
    """The whole (size-bounded) body, within the body time limit: a client trickling it is answered 408."""
    try:
        async with asyncio.timeout(request.app[settings_key].limits.body_timeout_s):
            return await request.read()
    except TimeoutError:
        # aiohttp then reads what is left for at most its lingering time (10 s) and closes the connection.
        raise web.HTTPRequestTimeout(reason="The request took too long to arrive") from None


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
    response.headers["Server"] = SERVER_HEADER
    if request.path.startswith(_NO_STORE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"


def _hide_server_software() -> None:
    """aiohttp's HTTP parser answers a malformed request (400) before any application code, so before any
    signal; those responses read the ``Server`` value from this module constant, its only hook."""
    web_response.SERVER_SOFTWARE = SERVER_HEADER  # type: ignore[attr-defined]  # module constant, set on purpose


def setup_middlewares(app: web.Application) -> None:
    _hide_server_software()
    app.middlewares.extend([error_middleware, input_middleware, principal_middleware, audit_context_middleware,
                            csrf_middleware])
    app.on_response_prepare.append(_security_headers)
