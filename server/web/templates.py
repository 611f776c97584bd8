"""Jinja2 environment (autoescaped) and the rendering helper shared by pages and error responses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from ..keys import templates_key
from ..platform import i18n
from .context import principal_of
from .modules import ModuleGraph
from .navigation import header_of

__all__ = ["create_environment", "render", "request_language", "chosen_language", "LANG_COOKIE"]

# The language the visitor chose with the switch, kept on every page of this browser (not a secret).
LANG_COOKIE = "lang"
_LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600

_PARIS = ZoneInfo("Europe/Paris")


def _localtime(value: datetime | None) -> str:
    return value.astimezone(_PARIS).strftime("%d/%m/%Y %H:%M") if value else ""


def create_environment(web_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(web_dir / "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["localtime"] = _localtime
    # {{ module_scripts('visit.js') }}: the entry script with its whole import graph preloaded (modules.py).
    env.globals["module_scripts"] = ModuleGraph(web_dir / "static" / "js", "/static/js/").script_tags
    return env


def chosen_language(request: web.Request) -> str | None:
    """The language the visitor chose: this page's ``?lang=`` (the switch), else the one the switch kept."""
    for value in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if value and value.strip().lower() in i18n.SUPPORTED:
            return value.strip().lower()
    return None


def request_language(request: web.Request, default: str = "fr") -> str:
    """The chosen language, else the best ``Accept-Language`` match, else ``default``."""
    return i18n.negotiate(chosen_language(request), request.headers.get("Accept-Language"), default)


def _keep_switched_language(request: web.Request, response: web.StreamResponse) -> None:
    switched = request.query.get("lang", "").strip().lower()
    if switched in i18n.SUPPORTED and request.cookies.get(LANG_COOKIE) != switched:
        response.set_cookie(LANG_COOKIE, switched, max_age=_LANG_COOKIE_MAX_AGE_S, path="/", secure=True,
                            httponly=True, samesite="Lax")


def _switch_href(request: web.Request, lang: str) -> str:
    """This very page in the other language: its other query parameters (filters...) stay. Only a query, never
    a path: a page reached as ``//elsewhere`` must not link to another site."""
    other = "en" if lang == "fr" else "fr"
    return "?" + urlencode([*((key, value) for key, value in request.query.items() if key != "lang"),
                            ("lang", other)])


def render(request: web.Request, name: str, context: dict[str, Any], *, status: int = 200,
           lang: str | None = None) -> web.Response:
    lang = lang or request_language(request)
    template = request.app[templates_key].get_template(name)
    header = header_of(request, principal_of(request))
    html = template.render(t=i18n.translator(lang), lang=lang, header=header, switch_href=_switch_href(request, lang),
                           **context)
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    _keep_switched_language(request, response)
    return response
