"""JSON API for the practitioner console. Thin handlers: parse, call the service, serialise."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..keys import (
    audit_key,
    calls_key,
    consultations_key,
    relay_key,
    settings_key,
    signaling_key,
    socket_sessions_key,
    web_sessions_key,
)
from ..platform.audit import AuditEvent
from ..platform.errors import Invalid
from ..web.httputil import read_json, require_professional
from .consultations import NewConsultation
from .invites import ics_invite, qr_svg

__all__ = ["setup_api_routes"]


def _report(data: dict[str, Any], request: web.Request, *, required: bool) -> str | None:
    report = data.get("report")
    if report is None and not required:
        return None
    limit = request.app[settings_key].limits.max_report_chars
    if not isinstance(report, str) or len(report) > limit:
        raise Invalid(f"report must be text of at most {limit} characters")
    return report


async def create_consultation(request: web.Request) -> web.Response:
    principal = require_professional(request)
    new = NewConsultation.parse(await read_json(request), request.app[settings_key].limits.max_name_chars)
    service = request.app[consultations_key]
    consultation = await service.create(principal, new)
    link = await service.issue_link(principal, consultation.id, "patient")
    return web.json_response({"consultation": consultation.to_json(), "link": link.to_json()}, status=201)


async def list_consultations(request: web.Request) -> web.Response:
    views = await request.app[consultations_key].list_for(require_professional(request))
    return web.json_response({"consultations": [view.to_json() for view in views]})


async def get_consultation(request: web.Request) -> web.Response:
    view = await request.app[consultations_key].get(require_professional(request), request.match_info["cid"])
    return web.json_response(view.to_json())


async def issue_link(request: web.Request) -> web.Response:
    principal = require_professional(request)
    data = await read_json(request)
    role, label = data.get("role", "patient"), data.get("label", "")
    if not isinstance(role, str) or not isinstance(label, str):
        raise Invalid("role and label must be text")
    link = await request.app[consultations_key].issue_link(principal, request.match_info["cid"], role, label)
    return web.json_response(link.to_json(), status=201)


async def list_links(request: web.Request) -> web.Response:
    links = await request.app[consultations_key].links(require_professional(request), request.match_info["cid"])
    return web.json_response({"links": [link.to_json() for link in links]})


async def revoke_link(request: web.Request) -> web.Response:
    await request.app[consultations_key].revoke_link(
        require_professional(request), request.match_info["cid"], request.match_info["jti"])
    return web.json_response({"revoked": True})


async def link_qr(request: web.Request) -> web.Response:
    link = await request.app[consultations_key].link(
        require_professional(request), request.match_info["cid"], request.match_info["jti"], "link.qr")
    return web.Response(body=qr_svg(link.url), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})


async def link_ics(request: web.Request) -> web.Response:
    link = await request.app[consultations_key].link(
        require_professional(request), request.match_info["cid"], request.match_info["jti"], "link.invite")
    return web.Response(body=ics_invite(link.invitation), content_type="text/calendar",
                        headers={"Content-Disposition": 'attachment; filename="teleconsultation.ics"',
                                 "Cache-Control": "no-store"})


async def chat_history(request: web.Request) -> web.Response:
    principal = require_professional(request)
    consultation = await request.app[consultations_key].get(principal, request.match_info["cid"])
    messages = await request.app[calls_key].chat_history(consultation.id)
    await request.app[audit_key].record(AuditEvent(principal.actor, principal.role, "chat.read",
                                                   f"consultation:{consultation.id}", "ok"))
    return web.json_response({"messages": messages})


async def consultation_record(request: web.Request) -> web.Response:
    entries = await request.app[consultations_key].record(require_professional(request), request.match_info["cid"])
    return web.json_response({"events": [entry.to_json() for entry in entries]})


async def end_consultation(request: web.Request) -> web.Response:
    principal = require_professional(request)
    data = await read_json(request)
    report = _report(data, request, required=False)
    socket_sessions = request.app[socket_sessions_key]
    # The sweep would otherwise close the patients' sockets between the end and the "ended" event that says why.
    async with socket_sessions.sweep_held():
        view = await request.app[consultations_key].end(principal, request.match_info["cid"], report)
        ended = await request.app[web_sessions_key].revoke_participants_of(view.id)
        request.app[calls_key].forget_routes()
        await request.app[signaling_key].consultation_ended(view.id)
        # Other processes close their sockets of it and forget their routes of it too.
        await socket_sessions.end(ended, consultation=view.id)
    return web.json_response(view.to_json())


async def remove_participant(request: web.Request) -> web.Response:
    principal = require_professional(request)
    cid, pid = request.match_info["cid"], request.match_info["pid"]
    socket_sessions = request.app[socket_sessions_key]
    # As at the end: the participant hears "removed" before the sweep closes its sockets.
    async with socket_sessions.sweep_held():
        await request.app[consultations_key].remove_participant(principal, cid, pid)
        ended = await request.app[web_sessions_key].revoke_participant(pid)
        request.app[calls_key].forget_routes(pid)
        await request.app[signaling_key].participant_removed(cid, pid)
        await socket_sessions.end(ended)
    return web.json_response({"removed": pid})


async def media_status(request: web.Request) -> web.Response:
    """Which server-side relay peers the consultation has (none while the call is peer to peer)."""
    principal = require_professional(request)
    consultation = await request.app[consultations_key].get(principal, request.match_info["cid"])
    return web.json_response({"relay": request.app[settings_key].media_relay,
                              "peers": request.app[relay_key].status(consultation.id)})


async def save_report(request: web.Request) -> web.Response:
    principal = require_professional(request)
    report = _report(await read_json(request), request, required=True)
    assert report is not None
    await request.app[consultations_key].save_report(principal, request.match_info["cid"], report)
    return web.json_response({"saved": True})


def setup_api_routes(app: web.Application) -> None:
    app.router.add_post("/api/consultations", create_consultation)
    app.router.add_get("/api/consultations", list_consultations)
    app.router.add_get("/api/consultations/{cid}", get_consultation)
    app.router.add_post("/api/consultations/{cid}/links", issue_link)
    app.router.add_get("/api/consultations/{cid}/links", list_links)
    app.router.add_post("/api/consultations/{cid}/links/{jti}/revoke", revoke_link)
    app.router.add_get("/api/consultations/{cid}/links/{jti}/qr.svg", link_qr)
    app.router.add_get("/api/consultations/{cid}/links/{jti}/invite.ics", link_ics)
    app.router.add_get("/api/consultations/{cid}/chat", chat_history)
    app.router.add_get("/api/consultations/{cid}/events", consultation_record)
    app.router.add_post("/api/consultations/{cid}/end", end_consultation)
    app.router.add_get("/api/consultations/{cid}/media", media_status)
    app.router.add_post("/api/consultations/{cid}/participants/{pid}/remove", remove_participant)
    app.router.add_put("/api/consultations/{cid}/report", save_report)
