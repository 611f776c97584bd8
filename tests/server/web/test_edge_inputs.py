"""Text that is not valid Unicode, and JSON nested too deeply, are refused at the edge with a 400 naming the field
(server/web/inputs.py, input_middleware): on every JSON route, in query strings, path parameters and form bodies."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp import web

from server.keys import accounts_key, db_key
from server.platform.errors import Invalid
from server.web.inputs import MAX_JSON_DEPTH, check_urlencoded, invalid_text_field, parse_json
from tests.expertise.requests_support import http_body, seed_professional
from tests.fakes import Browser, make_user, new_consultation

SURROGATE = '"x\\udcff"'  # the JSON escape of a lone UTF-16 surrogate
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


ID = "0" * 32


def _fill(match: re.Match[str]) -> str:
    return "messages" if match.group(1) == "kind" else ID


def _routes(app: web.Application, methods: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every (method, path) of the running application's HTTP API, path parameters filled with a plausible id."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in methods and path and path.startswith(("/api/", "/fhir/", "/login", "/logout")):
            found.add((route.method, re.sub(r"\{([^}:]+)[^}]*\}", _fill, path)))
    return sorted(found)


async def _doctor(server: Any) -> Browser:
    await make_user(server)
    browser = Browser(server)
    assert (await browser.login()).status == 303
    return browser


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_lone_surrogate_anywhere_in_a_json_body_is_refused_on_every_route(live_server: Any) -> None:
    routes = _routes(live_server.app, _UNSAFE)
    assert len(routes) >= 25 and ("POST", "/api/consultations") in routes
    async with await _doctor(live_server) as doctor:
        bodies = {
            f'{{"patient_name": {SURROGATE}}}': "patient_name",
            f'{{"ok": "fine", "patient": {{"given_names": ["Paul", {SURROGATE}]}}}}': "patient.given_names[1]",
            f'{{{SURROGATE}: 1}}': "a field name",
            '{"note": "a\\u0000b"}': "note",
        }
        for method, path in routes:
            for body, field in bodies.items():
                response = await doctor.api(method, path, data=body, headers={"Content-Type": "application/json"})
                assert response.status == 400, (method, path, await response.text())
                message = (await response.json())["message"] if path.startswith("/api/") else await response.text()
                assert field in message and "not valid text" in message, (method, path, message)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_json_nested_too_deeply_is_a_clear_400(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        for depth in (MAX_JSON_DEPTH + 1, 30_000):
            body = "[" * depth + "]" * depth
            response = await doctor.api("POST", "/api/consultations", data=body,
                                        headers={"Content-Type": "application/json"})
            assert response.status == 400
            assert "nested too deeply" in (await response.json())["message"]
        fine = '{"a": ' * 10 + "1" + "}" * 10  # ordinary nesting still reaches the route's own checks
        response = await doctor.api("POST", "/api/consultations", data=fine, headers={"Content-Type": "application/json"})
        assert response.status == 400 and "patient_name" in (await response.json())["message"]


async def test_a_refused_patient_name_leaves_the_console_working(live_server: Any) -> None:
    async with await _doctor(live_server) as doctor:
        body = f'{{"patient_name": {SURROGATE}, "scheduled_at": "2030-01-15T10:30:00+01:00"}}'
        response = await doctor.api("POST", "/api/consultations", data=body,
                                    headers={"Content-Type": "application/json"})
        assert response.status == 400 and "patient_name" in (await response.json())["message"]
        await new_consultation(doctor)
        console = await doctor.session.get("/console")
        assert console.status == 200 and "Jeanne Patient" in await console.text()
        listed = await doctor.api("GET", "/api/consultations")
        assert listed.status == 200 and len((await listed.json())["consultations"]) == 1


async def test_a_refused_expertise_patient_name_leaves_the_request_pages_working(live_server: Any) -> None:
    await seed_professional(live_server.app[db_key], "10000000001", commune="69123", departement="69", accepts=False)
    await seed_professional(live_server.app[db_key], "20000000001", commune="69123", departement="69", accepts=True)
    await live_server.app[accounts_key].create("gpone", "correct horse battery", "Dr One", "practitioner",
                                               rpps="10000000001")
    async with Browser(live_server) as gp:
        assert (await gp.login("gpone")).status == 303
        body = http_body()
        text = json.dumps(body).replace('"Durand"', SURROGATE)
        response = await gp.api("POST", "/api/expertise/requests", data=text,
                                headers={"Content-Type": "application/json"})
        assert response.status == 400 and "patient.family_name" in (await response.json())["message"]
        created = await gp.api("POST", "/api/expertise/requests", json=body)
        assert created.status == 201, await created.text()
        rid = (await created.json())["id"]
        for page in ("/expertise", f"/expertise/r/{rid}"):
            rendered = await gp.session.get(page)
            assert rendered.status == 200, page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_invalid_utf8_in_query_strings_and_path_parameters_is_refused(live_server: Any) -> None:
    get_routes = _routes(live_server.app, ("GET",))
    param_routes = [(method, path) for method, path in _routes(live_server.app, ("GET", *_UNSAFE)) if ID in path]
    async with await _doctor(live_server) as doctor:
        for method, path in get_routes:
            response = await doctor.api(method, f"{path}?after=%ED%B3%BF")
            assert response.status == 400, (path, response.status)
            assert "after" in await response.text()
        for method, path in param_routes:
            bad = path.replace(ID, "%ED%B3%BF", 1)
            response = await doctor.api(method, bad, data="{}", headers={"Content-Type": "application/json"})
            assert response.status == 400, (method, bad, response.status)
            assert "not valid text" in await response.text()
        # Pages too: the join link and the caller link answer a clear page, not a crash.
        for page in ("/j/%ED%B3%BF", "/c/ab%FFcd", "/console?lang=%C0%AF"):
            response = await doctor.session.get(page)
            assert response.status == 400 and "<html" in await response.text(), page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_form_bodies_with_invalid_text_are_refused_naming_the_field(live_server: Any) -> None:
    async with Browser(live_server) as visitor:
        for body in (b"username=%ED%B3%BF&password=x", b"username=ab\xffcd&password=x"):
            response = await visitor.session.post("/login", data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            assert response.status == 400, await response.text()
            assert "username" in await response.text()
        await make_user(live_server)
        assert (await visitor.login()).status == 303  # a good form still logs in


def test_the_checks_name_the_field() -> None:
    assert invalid_text_field({"a": [{"b": "ok"}, {"c": "x\udcff"}]}) == "a[1].c"
    assert invalid_text_field({"a": "é", "b": ["\U0001f600"]}) is None  # real non-ASCII text passes
    with pytest.raises(Invalid, match="the body is not valid UTF-8"):
        parse_json(b'{"a": "\xff"}')
    with pytest.raises(Invalid, match="q in the query string"):
        check_urlencoded(b"ok=%C3%A9&q=%ED%A0%80", "query string")
    check_urlencoded(b"name=Jos%C3%A9+Garc%C3%ADa&x=", "query string")
