"""Jinja2 environment (autoescaped) and the rendering helper shared by pages and error responses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from ..keys import templates_key
from ..platform import i18n
from .modules import ModuleGraph

__all__ = ["create_environment", "render", "request_language"]

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


def request_language(request: web.Request, default: str = "fr") -> str:
    return i18n.negotiate(request.query.get("lang"), request.headers.get("Accept-Language"), default)


def render(request: web.Request, name: str, context: dict[str, Any], *, status: int = 200,
           lang: str | None = None) -> web.Response:
    lang = lang or request_language(request)
    template = request.app[templates_key].get_template(name)
    html = template.render(t=i18n.translator(lang), lang=lang, **context)
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
