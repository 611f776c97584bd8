"""HTTP for regulation cases: the regulator's JSON API, the caller link exchange and the caller's uploads."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..identity.sessions import COOKIE_NAME, Principal
from ..keys import audit_key, live_key, regulation_key, settings_key, web_sessions_key
from ..platform import i18n
from ..platform.audit import AuditEvent
from ..platform.errors import Invalid
from ..web.context import principal_of
from ..web.httputil import read_json, require_kind, require_professional
from ..web.shared_pages import render_error, render_link_landing
from ..web.templates import render, request_language
from ..web.upload_http import file_response, read_upload, upload_errors
from .cases import CallerRefused, NewCase

__all__ = ["setup_case_routes", "DEVICE_COOKIE"]

DEVICE_COOKIE = "__Host-lucarne-device"
_REFUSALS = {"invalid": 400, "expired": 410, "revoked": 410, "closed": 410, "other_device": 409}
_CALLER_EVENTS = ("consent", "stream.started", "stream.stopped", "camera.switched", "torch", "location",
                  "sharing.stopped", "mode")


async def open_case(request: web.Request) -> web.Response:
    principal = require_professional(request)
    service = request.app[regulation_key]
    case, link = await service.open_case(principal, NewCase.parse(await read_json(request)))
    return web.json_response({"case": case.to_json(), "link": link.to_json()}, status=201)


async def list_cases(request: web.Request) -> web.Response:
    cases = await request.app[regulation_key].list_for(require_professional(request))
    return web.json_response({"cases": [case.to_json() for case in cases]})


async def get_case(request: web.Request) -> web.Response:
    case = await request.app[regulation_key].get(require_professional(request), request.match_info["case"])
    # How many professionals' pages are watching the caller right now.
    return web.json_response({**case.to_json(), "viewers": request.app[live_key].viewer_count(case.id)})


async def new_link(request: web.Request) -> web.Response:
    link = await request.app[regulation_key].new_link(require_professional(request), request.match_info["case"])
    return web.json_response(link.to_json(), status=201)


async def send_link(request: web.Request) -> web.Response:
    principal, service = require_professional(request), request.app[regulation_key]
    link = await service.new_link(principal, request.match_info["case"])
    sent = await service.send_link(principal, request.match_info["case"], link)
    return web.json_response({"sent": sent, "link": link.to_json()}, status=201 if sent else 502)


async def add_member(request: web.Request) -> web.Response:
    data = await read_json(request)
    username = data.get("username")
    if not isinstance(username, str) or not 1 <= len(username) <= 80:
        raise Invalid("username is required")
    await request.app[regulation_key].add_member(require_professional(request), request.match_info["case"], username)
    return web.json_response({"added": True})


async def timeline(request: web.Request) -> web.Response:
    after = request.query.get("after", "0")
    if not after.isdigit() or len(after) > 12:
        raise Invalid("after must be an event id")
    entries = await request.app[regulation_key].timeline(require_professional(request), request.match_info["case"],
                                                         int(after))
    return web.json_response({"events": [entry.to_json() for entry in entries]})


async def list_captures(request: web.Request) -> web.Response:
    captures = await request.app[regulation_key].captures(require_professional(request), request.match_info["case"])
    return web.json_response({"captures": [capture.to_json() for capture in captures]})


async def capture_image(request: web.Request) -> web.Response:
    view, data = await request.app[regulation_key].capture_image(
        require_professional(request), request.match_info["case"], request.match_info["capture"])
    return file_response(data, "image/jpeg", f"capture-{view.id}.jpg")


async def export_case(request: web.Request) -> web.Response:
    exported = await request.app[regulation_key].export(require_professional(request), request.match_info["case"])
    return web.json_response(exported, headers={"Content-Disposition": 'attachment; filename="case.json"'})


async def close_case(request: web.Request) -> web.Response:
    case = await request.app[regulation_key].close(require_professional(request), request.match_info["case"])
    await request.app[live_key].end_case(case.id)
    return web.json_response(case.to_json())


async def regulation_page(request: web.Request) -> web.StreamResponse:
    principal = _professional_page(request)
    cases = await request.app[regulation_key].list_for(principal)
    lang = request_language(request)
    return render(request, "regulation.html", {"cases": cases, "boot": {"csrf": principal.csrf_token, "lang": lang,
                                                                "strings": i18n.js_strings(lang)}})


async def case_page(request: web.Request) -> web.StreamResponse:
    principal = _professional_page(request)
    service = request.app[regulation_key]
    case = await service.get(principal, request.match_info["case"])
    link = await service.current_link(principal, case.id)
    lang = request_language(request)
    return render(request, "case.html", {"case": case, "boot": {
        "csrf": principal.csrf_token, "lang": lang, "caseId": case.id, "link": link.to_json() if link else None,
        "torchUnavailable": i18n.translator(lang)("torch_unavailable"), "strings": i18n.js_strings(lang)}})


def _professional_page(request: web.Request) -> Principal:
    principal = principal_of(request)
    if principal is None or principal.kind != "user":
        raise web.HTTPSeeOther("/login")
    return principal


# -- the caller ------------------------------------------------------------------------------------------------
def _caller_refused(request: web.Request, refused: CallerRefused) -> web.Response:
    t = i18n.translator(request_language(request))
    key = "caller_other_device" if refused.code == "other_device" else f"link_{refused.code}"
    return render_error(request, _REFUSALS.get(refused.code, 400), t(key), title_key="link_error_title")


async def caller_landing(request: web.Request) -> web.StreamResponse:
    """GET and HEAD of a caller link: the landing page, or why no phone can use it. Never binds the link: a
    preview bot fetching it must not become 'the caller's phone'."""
    try:
        await request.app[regulation_key].check_caller_link(request.match_info["token"])
    except CallerRefused as refused:
        return _caller_refused(request, refused)
    return render_link_landing(request, "caller", request_language(request))


async def caller_link(request: web.Request) -> web.StreamResponse:
    """POST from the landing page's button: bind the link to this phone and open the caller's session."""
    service = request.app[regulation_key]
    try:
        case_id, jti, device = await service.open_caller_link(
            request.match_info["token"], request.cookies.get(DEVICE_COOKIE), request.remote or "")
    except CallerRefused as refused:
        return _caller_refused(request, refused)
    session = await request.app[web_sessions_key].open_for_caller(case_id, jti)
    response = web.HTTPSeeOther("/caller")
    for name, value in ((COOKIE_NAME, session), (DEVICE_COOKIE, device)):
        response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="Lax",
                            max_age=request.app[settings_key].caller_link_ttl_s * 8)
    raise response


async def caller_page(request: web.Request) -> web.StreamResponse:
    principal = require_kind(request, "caller")
    lang = request_language(request)
    return render(request, "caller.html", {"boot": {"role": "caller", "csrf": principal.csrf_token, "lang": lang,
                                                    "strings": i18n.js_strings(lang)}}, lang=lang)


async def caller_event(request: web.Request) -> web.Response:
    principal = require_kind(request, "caller")
    data = await read_json(request)
    kind, detail = data.get("kind"), data.get("detail", {})
    if kind not in _CALLER_EVENTS or not isinstance(detail, dict) or len(str(detail)) > 500:
        raise Invalid(f"kind must be one of {', '.join(_CALLER_EVENTS)} with a small detail object")
    if kind == "location":
        detail = _location(detail)
    assert principal.case_id is not None
    entry = await request.app[regulation_key].record(principal.case_id, principal.actor, f"caller.{kind}", detail)
    await request.app[audit_key].record(AuditEvent(principal.actor, "caller", f"caller.{kind}",
                                                   f"case:{principal.case_id}", "ok"))
    return web.json_response({"id": entry.id})


@upload_errors
async def caller_still(request: web.Request) -> web.Response:
    """A still from the caller's phone (full-resolution photo, or the degraded mode's periodic still). Its type
    is read from the bytes, not the declared Content-Type; the case's quotas are checked before the body is read."""
    principal = require_kind(request, "caller")
    source = request.query.get("source", "photo")
    if source not in ("photo", "still"):
        raise Invalid("source must be photo or still")
    location = None
    if "lat" in request.query and "lon" in request.query:
        location = _location({"lat": request.query["lat"], "lon": request.query["lon"]})
    assert principal.case_id is not None
    service = request.app[regulation_key]
    await service.still_room(principal.case_id, principal.actor)
    data = await read_upload(request, service.still_limits.max_bytes, "images")
    capture = await service.store_capture(principal.case_id, principal.actor, data, source, location)
    return web.json_response({"capture": capture.id, "sha256": capture.sha256}, status=201)


async def caller_offer(request: web.Request) -> web.Response:
    principal = require_kind(request, "caller")
    sdp = (await read_json(request)).get("sdp")
    if not isinstance(sdp, str):
        raise Invalid("sdp must be text")
    return web.json_response({"sdp": await request.app[live_key].publish(principal, sdp)})


async def watch_case(request: web.Request) -> web.Response:
    sdp = (await read_json(request)).get("sdp")
    if not isinstance(sdp, str):
        raise Invalid("sdp must be text")
    answer = await request.app[live_key].watch(require_professional(request), request.match_info["case"], sdp)
    return web.json_response({"sdp": answer})


async def send_command(request: web.Request) -> web.Response:
    command = (await read_json(request)).get("command")
    if not isinstance(command, str):
        raise Invalid("command must be text")
    entry = await request.app[regulation_key].command(require_professional(request), request.match_info["case"],
                                                      command)
    return web.json_response({"id": entry.id}, status=201)


async def caller_commands(request: web.Request) -> web.Response:
    principal = require_kind(request, "caller")
    after = request.query.get("after", "0")
    if not after.isdigit() or len(after) > 12:
        raise Invalid("after must be an event id")
    assert principal.case_id is not None
    entries = await request.app[regulation_key].pending_commands(principal.case_id, int(after))
    return web.json_response({"commands": [{"id": e.id, "command": e.kind.removeprefix("command.")} for e in entries]})


@upload_errors
async def capture_frame(request: web.Request) -> web.Response:
    capture = await request.app[live_key].capture(require_professional(request), request.match_info["case"])
    return web.json_response(capture.to_json(), status=201)


def _location(detail: dict[str, Any]) -> dict[str, float]:
    try:
        lat, lon = float(detail["lat"]), float(detail["lon"])
        accuracy = float(detail.get("accuracy", 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise Invalid("location needs numeric lat and lon") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= accuracy < 1e6):
        raise Invalid("location is out of range")
    return {"lat": lat, "lon": lon, "accuracy": accuracy}


def setup_case_routes(app: web.Application) -> None:
    app.router.add_post("/api/cases", open_case)
    app.router.add_get("/api/cases", list_cases)
    app.router.add_get("/api/cases/{case}", get_case)
    app.router.add_post("/api/cases/{case}/link", new_link)
    app.router.add_post("/api/cases/{case}/link/send", send_link)
    app.router.add_post("/api/cases/{case}/members", add_member)
    app.router.add_get("/api/cases/{case}/timeline", timeline)
    app.router.add_get("/api/cases/{case}/captures", list_captures)
    app.router.add_get("/api/cases/{case}/captures/{capture}.jpg", capture_image)
    app.router.add_get("/api/cases/{case}/export", export_case)
    app.router.add_post("/api/cases/{case}/close", close_case)
    app.router.add_post("/api/cases/{case}/watch", watch_case)
    app.router.add_post("/api/cases/{case}/capture", capture_frame)
    app.router.add_post("/api/caller/offer", caller_offer)
    app.router.add_post("/api/cases/{case}/commands", send_command)
    app.router.add_get("/api/caller/commands", caller_commands)
    app.router.add_get("/regulation", regulation_page)
    app.router.add_get("/regulation/{case}", case_page)
    app.router.add_get("/c/{token}", caller_landing)  # also HEAD
    app.router.add_post("/c/{token}", caller_link)
    app.router.add_get("/caller", caller_page)
    app.router.add_post("/api/caller/events", caller_event)
    app.router.add_post("/api/caller/stills", caller_still)
