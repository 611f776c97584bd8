"""The administrator's landing page: what administration exists for now, in words (issue #13 builds the rest)."""

from __future__ import annotations

from aiohttp import web

from ..platform import i18n
from .context import principal_of
from .shared_pages import render_error
from .templates import render, request_language

__all__ = ["setup_admin_page"]

# The paragraphs of the page, in order: each is one thing an administrator can do today.
_ITEMS = ("admin_accounts", "admin_deactivate", "admin_directory", "admin_audit", "admin_indicators")


async def admin_home(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    if principal is None or principal.kind != "user":
        raise web.HTTPSeeOther("/login")
    if principal.role != "admin":
        t = i18n.translator(request_language(request))
        return render_error(request, 403, t("admin_only"))
    return render(request, "admin.html", {"items": _ITEMS})


def setup_admin_page(app: web.Application) -> None:
    app.router.add_get("/admin", admin_home)
