"""HTML pages: login, practitioner console and room, join-link exchange, patient visit page, error pages."""

from __future__ import annotations

import logging

from aiohttp import web

from ..identity.sessions import COOKIE_NAME, Principal
from ..keys import accounts_key, audit_key, consultations_key, settings_key, socket_sessions_key, web_sessions_key
from ..platform import i18n
from ..platform.audit import AuditEvent
from ..platform.errors import RateLimited
from ..web.context import principal_of
from ..web.navigation import home_of
from ..web.shared_pages import render_error, render_link_landing
from ..web.templates import chosen_language, render, request_language
from .consultations import LinkRefused
from .invites import spell_moment

__all__ = ["setup_page_routes"]

logger = logging.getLogger(__name__)

_LINK_MESSAGES = {
    "invalid": ("link_invalid", 400),
    "expired": ("link_expired", 410),
    "revoked": ("link_revoked", 410),
    "used": ("link_used", 410),
    "ended": ("link_ended", 410),
    "not_yet": ("link_not_yet", 403),
}


def _professional(request: web.Request) -> Principal:
    principal = principal_of(request)
    if principal is None or principal.kind != "user":
        raise web.HTTPSeeOther("/login")
    return principal


def _remote(request: web.Request) -> str:
    return request.remote or ""


def _set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    settings = request.app[settings_key]
    response.set_cookie(COOKIE_NAME, token, max_age=settings.session_ttl_s, path="/", secure=True,
                        httponly=True, samesite="Lax")


async def index(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    if principal is not None and principal.kind == "participant":
        raise web.HTTPSeeOther("/visit")
    raise web.HTTPSeeOther(home_of(principal.role) if principal else "/login")


async def login_form(request: web.Request) -> web.StreamResponse:
    return render(request, "login.html", {"error": None, "username": ""})


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username, password = str(form.get("username", ""))[:80], str(form.get("password", ""))[:200]
    t = i18n.translator(request_language(request))
    audit = request.app[audit_key]
    try:
        account = await request.app[accounts_key].authenticate(username, password, _remote(request))
    except RateLimited:
        await audit.record(AuditEvent(f"login:{username.lower()}", "unknown", "login", "session", "rate_limited",
                                      _remote(request)))
        return render(request, "login.html", {"error": t("login_rate_limited"), "username": username}, status=429)
    if account is None:
        await audit.record(AuditEvent(f"login:{username.lower()}", "unknown", "login", "session", "failed",
                                      _remote(request)))
        return render(request, "login.html", {"error": t("login_failed"), "username": username}, status=401)
    token = await request.app[web_sessions_key].open_for_user(account.id)
    await audit.record(AuditEvent(account.id, account.role, "login", "session", "ok", _remote(request)))
    response = web.HTTPSeeOther(home_of(account.role))
    _set_session_cookie(request, response, token)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    if principal is not None:
        await request.app[web_sessions_key].revoke(principal.session_hash)
        await request.app[socket_sessions_key].end([principal.session_hash])
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE_NAME, path="/")
    raise response


async def console(request: web.Request) -> web.StreamResponse:
    principal = _professional(request)
    consultations = await request.app[consultations_key].list_for(principal)
    lang = request_language(request)
    return render(request, "console.html", {
        "user": {"display_name": principal.display_name, "role": principal.role},
        "consultations": consultations,
        "csrf": principal.csrf_token,
        "boot": {"role": "practitioner", "csrf": principal.csrf_token, "lang": lang, "strings": i18n.js_strings(lang)},
    })


async def consultation_room(request: web.Request) -> web.StreamResponse:
    principal = _professional(request)
    consultation = await request.app[consultations_key].get(principal, request.match_info["cid"])
    lang = request_language(request)
    return render(request, "consultation.html", {
        "user": {"display_name": principal.display_name, "role": principal.role},
        "consultation": consultation,
        "csrf": principal.csrf_token,
        "boot": {"role": "practitioner", "consultationId": consultation.id, "csrf": principal.csrf_token,
                 "lang": lang, "strings": i18n.js_strings(lang)},
    })


def _link_language(request: web.Request, language: str) -> str:
    """The link's own language unless the visitor switched it (on this page or an earlier one)."""
    return chosen_language(request) or language


def _link_refused(request: web.Request, refused: LinkRefused) -> web.Response:
    key, status = _LINK_MESSAGES.get(refused.code, ("link_invalid", 400))
    lang = request_language(request)
    t = i18n.translator(lang)
    if refused.code == "not_yet" and refused.opens_at is not None:
        message = t(key).replace("{when}", spell_moment(refused.opens_at, lang))
        return render_error(request, status, message, title_key="link_not_yet_title")
    return render_error(request, status, t(key), title_key="link_error_title")


async def join_page(request: web.Request) -> web.StreamResponse:
    """GET and HEAD of a join link: the landing page, or why the link cannot be used. Never uses the link."""
    try:
        language = await request.app[consultations_key].check_link(request.match_info["token"])
    except LinkRefused as refused:
        return _link_refused(request, refused)
    return render_link_landing(request, "join", _link_language(request, language))


async def exchange_link(request: web.Request) -> web.StreamResponse:
    """POST from the landing page's button: use the link, open the participant's session."""
    token = request.match_info["token"]
    try:
        participant_id = await request.app[consultations_key].exchange(token, _remote(request))
    except LinkRefused as refused:
        return _link_refused(request, refused)
    session_token = await request.app[web_sessions_key].open_for_participant(participant_id)
    response = web.HTTPSeeOther("/visit")
    _set_session_cookie(request, response, session_token)
    raise response


async def visit(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    if principal is None or principal.kind != "participant":
        t = i18n.translator(request_language(request))
        return render_error(request, 403, t("visit_needs_link"), title_key="link_error_title")
    # The patient sees the language chosen for the consultation unless they switch it themselves.
    lang = chosen_language(request) or principal.language or request_language(request)
    return render(request, "visit.html", {
        "boot": {"role": principal.role, "lang": lang, "csrf": principal.csrf_token,
                 "strings": i18n.js_strings(lang), "practitioner": principal.host_name},
    }, lang=lang)


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


def setup_page_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/console", console)
    app.router.add_get("/console/c/{cid}", consultation_room)
    app.router.add_get("/j/{token}", join_page)  # also HEAD
    app.router.add_post("/j/{token}", exchange_link)
    app.router.add_get("/visit", visit)
    app.router.add_get("/healthz", healthz)
