"""FHIR R4 read/search endpoints for requests: ``ServiceRequest``, ``Task``, ``Communication``.

The same service calls as the JSON API, so the same access checks and audit apply: a professional finds only the
requests they sent or hold. Errors are ``OperationOutcome`` resources.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from expertise import (
    SERVICE_REQUEST_STATUS,
    RequestError,
    RequestForbidden,
    RequestNotFound,
    fhir_bundle,
    fhir_communication,
    fhir_service_request,
    fhir_task,
    fhir_task_matches,
)

from ..keys import expertise_key, settings_key
from ..platform.errors import Invalid, LucarneError
from .actors import actor_for

__all__ = ["setup_fhir_request_routes"]

FHIR_JSON = "application/fhir+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MAX_COUNT = 100


def _outcome(status: int, code: str, message: str) -> web.Response:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": message}]}
    return web.json_response(body, status=status, content_type=FHIR_JSON)


def _fhir(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestNotFound as exc:
            return _outcome(404, "not-found", exc.message)
        except RequestForbidden as exc:
            return _outcome(403, "forbidden", exc.message)
        except RequestError as exc:
            return _outcome(400, "invalid", exc.message)
        except LucarneError as exc:
            return _outcome(exc.status, "forbidden" if exc.status == 403 else "invalid", exc.message)
        except web.HTTPUnauthorized:
            return _outcome(401, "login", "professional login required")

    return run


def _json(resource: dict[str, Any]) -> web.Response:
    return web.json_response(resource, content_type=FHIR_JSON)


def _count(request: web.Request) -> int:
    raw = request.query.get("_count", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_COUNT:
        raise Invalid(f"_count must be a number from 1 to {_MAX_COUNT}")
    return int(raw)


def _base(request: web.Request) -> str:
    return request.app[settings_key].public_url.rstrip("/") + "/fhir"


@_fhir
async def read_service_request(request: web.Request) -> web.Response:
    detail = await request.app[expertise_key].get(await actor_for(request), request.match_info["id"])
    return _json(fhir_service_request(detail))


@_fhir
async def read_task(request: web.Request) -> web.Response:
    detail = await request.app[expertise_key].get(await actor_for(request), request.match_info["id"])
    return _json(fhir_task(detail))


async def _search(request: web.Request, build: Callable[[Any], dict[str, Any]],
                  matches: Callable[[Any, str | None], bool]) -> web.Response:
    actor, service = await actor_for(request), request.app[expertise_key]
    status = request.query.get("status") or None
    if status is not None and len(status) > 20:
        raise Invalid("status is too long")
    summaries = [s for s in await service.list_for(actor) if matches(s, status)]
    resources = [build(await service.get(actor, s.id)) for s in summaries[:_count(request)]]
    return _json(fhir_bundle(resources, _base(request)))


def _service_request_matches(summary: Any, status: str | None) -> bool:
    return status is None or status in (SERVICE_REQUEST_STATUS.get(summary.status, "active"), summary.status)


@_fhir
async def search_service_requests(request: web.Request) -> web.Response:
    return await _search(request, fhir_service_request, _service_request_matches)


@_fhir
async def search_tasks(request: web.Request) -> web.Response:
    return await _search(request, fhir_task, fhir_task_matches)


@_fhir
async def search_communications(request: web.Request) -> web.Response:
    based_on = request.query.get("based-on", "")
    if not based_on.startswith("ServiceRequest/"):
        raise Invalid("search Communication with based-on=ServiceRequest/<id>")
    rid = based_on.removeprefix("ServiceRequest/")
    messages = await request.app[expertise_key].thread(await actor_for(request), rid)
    return _json(fhir_bundle([fhir_communication(rid, m) for m in messages], _base(request)))


def setup_fhir_request_routes(app: web.Application) -> None:
    app.router.add_get("/fhir/ServiceRequest", search_service_requests)
    app.router.add_get("/fhir/ServiceRequest/{id}", read_service_request)
    app.router.add_get("/fhir/Task", search_tasks)
    app.router.add_get("/fhir/Task/{id}", read_task)
    app.router.add_get("/fhir/Communication", search_communications)
