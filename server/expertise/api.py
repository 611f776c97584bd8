"""HTTP JSON API for second-opinion requests, and the wiring of the request service into the app.

Thin handlers: authenticate (professionals only: a patient or caller session is refused), resolve the account's
directory identity (``users.rpps``, profession), call :class:`expertise.ExpertiseService`, serialise. Domain
errors become HTTP answers here, the only place that knows both sides.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from expertise import (
    AnswerReport,
    AttachmentLimits,
    DeadlinePolicy,
    DeadlineRunner,
    DirectoryPort,
    ExpertiseService,
    InvalidRequest,
    NewRequest,
)

from ..config import Settings
from ..keys import (
    clock_key,
    consultations_key,
    directory_key,
    expertise_key,
    signaling_key,
    web_sessions_key,
)
from ..platform.audit import AuditLog
from ..platform.blobs import BlobStore
from ..platform.clock import Clock
from ..platform.crypto import Sealer
from ..platform.db import SessionFactory
from ..platform.errors import Invalid, NotFound
from ..teleconsultation.consultations import NewConsultation
from ..web.httputil import read_json, require_professional
from ..web.upload_http import file_response, idempotency_key, read_upload, upload_errors
from .actors import actor_for, actor_from_principal, translate_errors
from .fhir import setup_fhir_request_routes
from .pages import setup_expertise_pages
from .realtime import ExpertiseNotifier
from .wiring import ExpertiseAudit, patient_key_function

__all__ = ["setup_expertise"]

logger = logging.getLogger(__name__)
runner_key = web.AppKey("expertise_runner", DeadlineRunner)
_FILTERS = ("status", "urgency", "specialty", "role")


def _service(request: web.Request) -> ExpertiseService:
    return request.app[expertise_key]


def _rid(request: web.Request) -> str:
    return request.match_info["rid"]


def _text_field(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise Invalid(f"{key} must be text")
    return value


@translate_errors
async def create_request(request: web.Request) -> web.Response:
    actor = await actor_for(request)
    service = _service(request)
    new = NewRequest.parse(await read_json(request), service.policy.urgencies)
    detail = await service.submit(actor, new)
    return web.json_response(detail.to_json(), status=201)


@translate_errors
async def list_requests(request: web.Request) -> web.Response:
    actor = await actor_for(request)
    filters = {key: request.query.get(key) or None for key in _FILTERS}
    for key, value in filters.items():
        if value is not None and len(value) > 80:
            raise Invalid(f"{key} filter is too long")
    summaries = await _service(request).list_for(actor, **filters)
    return web.json_response({"requests": [s.to_json() for s in summaries]})


@translate_errors
async def get_request(request: web.Request) -> web.Response:
    return web.json_response((await _service(request).get(await actor_for(request), _rid(request))).to_json())


@translate_errors
async def accept(request: web.Request) -> web.Response:
    return web.json_response((await _service(request).accept(await actor_for(request), _rid(request))).to_json())


@translate_errors
async def decline(request: web.Request) -> web.Response:
    actor = await actor_for(request)
    reason = _text_field(await read_json(request), "reason") if request.can_read_body else ""
    await _service(request).decline(actor, _rid(request), reason)
    return web.json_response({"declined": True})


@translate_errors
async def cancel(request: web.Request) -> web.Response:
    await _service(request).cancel(await actor_for(request), _rid(request))
    return web.json_response({"cancelled": True})


@translate_errors
async def post_message(request: web.Request) -> web.Response:
    actor = await actor_for(request)
    kind = request.match_info["kind"]
    text = _text_field(await read_json(request), "text")
    service = _service(request)
    send = {"messages": service.post_message, "info-request": service.request_info, "info": service.provide_info}
    if kind not in send:
        raise NotFound("no such thread action")
    message = await send[kind](actor, _rid(request), text)
    return web.json_response(message.to_json(), status=201)


@translate_errors
async def thread(request: web.Request) -> web.Response:
    messages = await _service(request).thread(await actor_for(request), _rid(request))
    return web.json_response({"messages": [m.to_json() for m in messages]})


@translate_errors
async def answer(request: web.Request) -> web.Response:
    actor = await actor_for(request)
    report = AnswerReport.parse(await read_json(request))
    return web.json_response((await _service(request).answer(actor, _rid(request), report)).to_json())


@translate_errors
async def close(request: web.Request) -> web.Response:
    actor = await actor_for(request)
    avoided = (await read_json(request)).get("referral_avoided")
    if not isinstance(avoided, bool):
        raise Invalid("referral_avoided must be true or false: was a face-to-face referral avoided?")
    return web.json_response((await _service(request).close(actor, _rid(request), avoided)).to_json())


@translate_errors
async def bill(request: web.Request) -> web.Response:
    actor = await actor_for(request)
    code = _text_field(await read_json(request), "code").upper()
    return web.json_response(await _service(request).bill(actor, _rid(request), code), status=201)


@translate_errors
async def teleconsultation(request: web.Request) -> web.Response:
    """Escalate to video: a consultation owned by the requester, with a guest link for the specialist."""
    principal = require_professional(request)
    actor = await actor_from_principal(request.app, principal)
    service = _service(request)
    detail, expert_rpps = await service.check_teleconsultation(actor, _rid(request))
    consultations = request.app[consultations_key]
    patient = detail.patient
    new = NewConsultation(patient_name=f"{patient['given_names']} {patient['family_name']}"[:120],
                          scheduled_at=request.app[clock_key].now(), language=detail.language or "fr")
    consultation = await consultations.create(principal, new)
    expert_link = await consultations.issue_link(principal, consultation.id, "guest", f"expert {expert_rpps}"[:60])
    patient_link = await consultations.issue_link(principal, consultation.id, "patient")
    await service.link_consultation(actor, detail.summary.id, consultation.id, expert_link.url)
    return web.json_response({"consultation": consultation.to_json(), "patient_link": patient_link.to_json()},
                             status=201)


@translate_errors
@upload_errors
async def upload_attachment(request: web.Request) -> web.Response:
    """201 with the new attachment; 200 with the first one for a retry (same Idempotency-Key or same file)."""
    actor, service = await actor_for(request), _service(request)
    key = idempotency_key(request)
    await service.attachment_room(actor, _rid(request), request.content_length or 0, key)
    data = await read_upload(request, service.attachment_limits.max_bytes, "attachments")
    name = request.query.get("name", "attachment")
    view, created = await service.add_attachment(actor, _rid(request), name[:300], data, key)
    return web.json_response(view.to_json(), status=201 if created else 200)


@translate_errors
async def download_attachment(request: web.Request) -> web.Response:
    actor = await actor_for(request)
    view, data = await _service(request).attachment(actor, _rid(request), request.match_info["aid"])
    return file_response(data, view.content_type, view.name)


# -- wiring ----------------------------------------------------------------------------------------------------
def build_service(settings: Settings, sessions: SessionFactory, clock: Clock, sealer: Sealer, audit: AuditLog,
                  notifier: ExpertiseNotifier, directory: DirectoryPort) -> ExpertiseService:
    try:
        policy = DeadlinePolicy.parse(settings.expertise_deadlines)
    except InvalidRequest as exc:  # a bad setting stops the start, not the first request
        raise ValueError(f"LUCARNE_EXPERTISE_DEADLINES: {exc.message}") from exc
    return ExpertiseService(sessions, clock, directory, sealer,
                            BlobStore(settings.data_dir / "expertise-blobs", sealer), ExpertiseAudit(audit),
                            notifier, patient_key_function(settings.secret_key), policy,
                            node=f"{socket.gethostname()}:{os.getpid()}",
                            # Open-request counts cached like the directory pools (5 s); capacity is still
                            # checked in the routing transaction.
                            load_ttl=5.0, attachment_limits=attachment_limits(settings))


def attachment_limits(settings: Settings) -> AttachmentLimits:
    uploads = settings.uploads
    return AttachmentLimits(max_bytes=uploads.attachment_max_bytes, per_request=uploads.attachments_per_request,
                            bytes_per_request=uploads.attachment_bytes_per_request, window_s=uploads.user_window_s,
                            per_window=uploads.user_uploads_per_window, bytes_per_window=uploads.user_bytes_per_window,
                            bytes_per_user=uploads.user_bytes_max)


def setup_expertise(app: web.Application, settings: Settings, sessions: SessionFactory, clock: Clock,
                    sealer: Sealer, audit: AuditLog) -> None:
    """Create the request service, its deadline runner, routes and realtime namespace (inside ``create_app``)."""
    sio = app[signaling_key].sio
    notifier = ExpertiseNotifier(sio, sessions, app[web_sessions_key])
    service = build_service(settings, sessions, clock, sealer, audit, notifier, app[directory_key])
    app[expertise_key] = service
    app[runner_key] = DeadlineRunner(service, settings.expertise_timer_interval_s)
    notifier.register()
    app.cleanup_ctx.append(_deadlines)
    base = "/api/expertise/requests"
    app.router.add_post(base, create_request)
    app.router.add_get(base, list_requests)
    app.router.add_get(base + "/{rid}", get_request)
    app.router.add_post(base + "/{rid}/accept", accept)
    app.router.add_post(base + "/{rid}/decline", decline)
    app.router.add_post(base + "/{rid}/cancel", cancel)
    app.router.add_get(base + "/{rid}/messages", thread)
    app.router.add_post(base + "/{rid}/{kind:messages|info-request|info}", post_message)
    app.router.add_post(base + "/{rid}/answer", answer)
    app.router.add_post(base + "/{rid}/close", close)
    app.router.add_post(base + "/{rid}/billing", bill)
    app.router.add_post(base + "/{rid}/teleconsultation", teleconsultation)
    app.router.add_post(base + "/{rid}/attachments", upload_attachment)
    app.router.add_get(base + "/{rid}/attachments/{aid}", download_attachment)
    setup_fhir_request_routes(app)
    setup_expertise_pages(app)


async def _deadlines(app: web.Application) -> AsyncIterator[None]:
    runner = app[runner_key]
    runner.start()
    try:
        yield
    finally:
        await runner.stop()
        await app[expertise_key].stop()
