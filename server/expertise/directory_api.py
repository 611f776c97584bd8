"""HTTP side of the professional directory: a professional's own expertise profile (JSON API) and the FHIR R4
read/search endpoints (Practitioner, PractitionerRole). Thin handlers: check who calls, parse, call the domain.

Profile endpoints act only on the caller's own directory entry (the ``rpps`` of their account); every read, change
and denial is audited. FHIR endpoints serve logged-in professionals only and answer errors as OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from expertise import AbsenceView, DirectoryError, InvalidProfile, ProfessionalNotFound, ProfileUpdate

from ..identity.sessions import Principal
from ..keys import accounts_key, audit_key, clock_key, directory_fhir_key, profiles_key
from ..platform import i18n
from ..platform.audit import AuditEvent
from ..platform.errors import Forbidden, Invalid, NotFound
from ..web.context import principal_of
from ..web.httputil import read_json, require_professional
from ..web.templates import render, request_language

__all__ = ["setup_directory_routes"]

FHIR_JSON = "application/fhir+json"
_MAX_PARAM = 80
_ROLE_PARAMS = {"specialty", "address-postalcode", "location.address-postalcode", "commune",
                "location.address-commune", "practitioner", "_count"}


async def _own_rpps(request: web.Request, action: str) -> tuple[Principal, str]:
    """The caller's RPPS; refuses (and audits) professionals whose account has no directory entry."""
    principal = require_professional(request)
    account = await request.app[accounts_key].get(principal.user_id or "")
    if account is None or account.rpps is None:
        await _audit(request, principal, action, "directory:profile", "denied")
        raise Forbidden("this account is not linked to a directory entry (RPPS); ask an administrator")
    return principal, account.rpps


async def _audit(request: web.Request, principal: Principal, action: str, obj: str, result: str) -> None:
    await request.app[audit_key].record(AuditEvent(principal.actor, principal.role, action, obj, result,
                                                   request.remote or ""))


def _domain(error: DirectoryError) -> Exception:
    if isinstance(error, ProfessionalNotFound):
        return NotFound(error.message)
    if isinstance(error, InvalidProfile):
        return Invalid(error.message)
    return Invalid(error.message)


async def get_profile(request: web.Request) -> web.Response:
    principal, rpps = await _own_rpps(request, "directory.profile.read")
    try:
        view = await request.app[profiles_key].get(rpps, request.app[clock_key].now())
    except DirectoryError as exc:
        raise _domain(exc) from exc
    await _audit(request, principal, "directory.profile.read", f"rpps:{rpps}", "ok")
    return web.json_response(view.to_json())


async def put_profile(request: web.Request) -> web.Response:
    principal, rpps = await _own_rpps(request, "directory.profile.update")
    try:
        update = ProfileUpdate.parse(await read_json(request))
        view = await request.app[profiles_key].update(rpps, update, request.app[clock_key].now())
    except DirectoryError as exc:
        await _audit(request, principal, "directory.profile.update", f"rpps:{rpps}", "refused")
        raise _domain(exc) from exc
    await _audit(request, principal, "directory.profile.update", f"rpps:{rpps}", "ok")
    return web.json_response(view.to_json())


def _moment(data: dict[str, Any], name: str) -> datetime:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid(f"{name} must be an ISO 8601 date-time with an offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be an ISO 8601 date-time with an offset") from exc
    if moment.tzinfo is None:
        raise Invalid(f"{name} needs a time zone offset")
    return moment


async def add_absence(request: web.Request) -> web.Response:
    principal, rpps = await _own_rpps(request, "directory.absence.add")
    data = await read_json(request)
    note = data.get("note", "")
    if not isinstance(note, str):
        raise Invalid("note must be text")
    try:
        absence = await request.app[profiles_key].add_absence(rpps, _moment(data, "starts_at"),
                                                              _moment(data, "ends_at"), note,
                                                              request.app[clock_key].now())
    except DirectoryError as exc:
        raise _domain(exc) from exc
    await _audit(request, principal, "directory.absence.add", f"rpps:{rpps}", "ok")
    return web.json_response(absence.to_json(), status=201)


async def remove_absence(request: web.Request) -> web.Response:
    principal, rpps = await _own_rpps(request, "directory.absence.remove")
    raw = request.match_info["aid"]
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound("no such absence in this profile")
    try:
        await request.app[profiles_key].remove_absence(rpps, int(raw))
    except DirectoryError as exc:
        await _audit(request, principal, "directory.absence.remove", f"absence:{raw}", "refused")
        raise _domain(exc) from exc
    await _audit(request, principal, "directory.absence.remove", f"absence:{raw}", "ok")
    return web.json_response({"removed": True})


async def profile_page(request: web.Request) -> web.StreamResponse:
    """Minimal page over the same API: the professional's own profile (or why it cannot be set)."""
    principal = principal_of(request)
    if principal is None or principal.kind != "user":
        raise web.HTTPSeeOther("/login")
    account = await request.app[accounts_key].get(principal.user_id or "")
    profile: dict[str, Any] | None = None
    absences: tuple[AbsenceView, ...] = ()
    if account is not None and account.rpps is not None:
        try:
            view = await request.app[profiles_key].get(account.rpps, request.app[clock_key].now())
            profile, absences = view.to_json(), view.absences  # absences as datetimes, shown in local time
        except DirectoryError:
            profile = None
        await _audit(request, principal, "directory.profile.read", f"rpps:{account.rpps}", "ok")
    lang = request_language(request)
    return render(request, "profile.html", {
        "user": {"display_name": principal.display_name}, "csrf": principal.csrf_token, "profile": profile,
        "absences": absences,
        "boot": {"csrf": principal.csrf_token, "lang": lang,
                 "strings": {key: i18n.translator(lang)(key) for key in ("profile_saved", "profile_bad_languages")}},
    })


# -- FHIR ------------------------------------------------------------------------------------------------------

def _outcome(status: int, code: str, message: str) -> web.Response:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": message}]}
    return web.json_response(body, status=status, content_type=FHIR_JSON)


FhirHandler = Callable[[web.Request], Awaitable[web.Response]]


def _fhir(handler: FhirHandler) -> FhirHandler:
    """Professionals only; errors become OperationOutcome resources."""

    async def wrapped(request: web.Request) -> web.Response:
        principal = principal_of(request)
        if principal is None:
            return _outcome(401, "login", "login required")
        if principal.kind != "user":
            return _outcome(403, "forbidden", "the directory is for professionals")
        try:
            return await handler(request)
        except Invalid as exc:
            return _outcome(400, "invalid", exc.message)

    return wrapped


def _params(request: web.Request, allowed: set[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in request.query.items():
        if name not in allowed:
            raise Invalid(f"unsupported search parameter {name!r}; supported: {', '.join(sorted(allowed))}")
        if name in values:
            raise Invalid(f"repeat {name!r} at most once")
        if not value or len(value) > _MAX_PARAM:
            raise Invalid(f"{name} must be 1 to {_MAX_PARAM} characters")
        values[name] = value
    return values


def _count(values: dict[str, str]) -> int:
    raw = values.get("_count", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise Invalid("_count must be from 1 to 100")
    return int(raw)


@_fhir
async def read_practitioner(request: web.Request) -> web.Response:
    rpps = request.match_info["id"]
    if len(rpps) != 11 or not rpps.isdigit():
        return _outcome(404, "not-found", "Practitioner ids are 11-digit RPPS identifiers")
    resource = await request.app[directory_fhir_key].practitioner(rpps)
    if resource is None:
        return _outcome(404, "not-found", f"no Practitioner {rpps}")
    return web.json_response(resource, content_type=FHIR_JSON)


@_fhir
async def search_practitioners(request: web.Request) -> web.Response:
    values = _params(request, {"identifier", "_count"})
    bundle = await request.app[directory_fhir_key].search_practitioners(
        identifier=values.get("identifier"), base_url=str(request.url), count=_count(values))
    return web.json_response(bundle, content_type=FHIR_JSON)


@_fhir
async def search_roles(request: web.Request) -> web.Response:
    values = _params(request, _ROLE_PARAMS)
    criteria = {"specialty", "address-postalcode", "location.address-postalcode", "commune",
                "location.address-commune", "practitioner"}
    if not criteria & set(values):
        raise Invalid("give at least one of: " + ", ".join(sorted(criteria)))
    bundle = await request.app[directory_fhir_key].search_roles(
        specialty=values.get("specialty"),
        postal_code=values.get("address-postalcode") or values.get("location.address-postalcode"),
        commune=values.get("commune") or values.get("location.address-commune"),
        practitioner=values.get("practitioner"), base_url=str(request.url), count=_count(values))
    return web.json_response(bundle, content_type=FHIR_JSON)


def setup_directory_routes(app: web.Application) -> None:
    app.router.add_get("/directory/profile", profile_page)
    app.router.add_get("/api/directory/profile", get_profile)
    app.router.add_put("/api/directory/profile", put_profile)
    app.router.add_post("/api/directory/profile/absences", add_absence)
    app.router.add_delete("/api/directory/profile/absences/{aid}", remove_absence)
    app.router.add_get("/fhir/Practitioner/{id}", read_practitioner)
    app.router.add_get("/fhir/Practitioner", search_practitioners)
    app.router.add_get("/fhir/PractitionerRole", search_roles)
