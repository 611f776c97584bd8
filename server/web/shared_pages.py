"""Pages every job shows: the error page, and the first page of a join or caller link."""

from __future__ import annotations

from aiohttp import web

from ..platform import i18n
from .context import principal_of
from .templates import render, request_language

__all__ = ["render_error", "render_link_landing"]

_LANDINGS = {
    "join": ("join_title", "join_text", "join_button", "join_hint"),
    "caller": ("caller_title", "caller_landing_text", "caller_landing_button", "caller_landing_hint"),
}


def render_error(request: web.Request, status: int, message: str, *, title_key: str = "error_title") -> web.Response:
    t = i18n.translator(request_language(request))
    return render(request, "error.html", {"status": status, "title": t(title_key), "message": message},
                  status=status)


def render_link_landing(request: web.Request, kind: str, lang: str) -> web.Response:
    """The first page of a join (``join``) or caller (``caller``) link: words and one button whose POST uses the
    link. A plain script could post by itself, but some preview fetchers run scripts; none presses a button."""
    t = i18n.translator(lang)
    title, text, button, hint = (t(key) for key in _LANDINGS[kind])
    principal = principal_of(request)
    response = render(request, "link.html", {
        "title": title, "text": text, "button": button, "hint": hint,
        "csrf": principal.csrf_token if principal is not None else "",
    }, lang=lang)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
