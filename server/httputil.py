"""Small helpers shared by the JSON handlers: who is calling, and reading a bounded JSON body."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .context import principal_of
from .errors import Forbidden, Invalid
from .sessions import Principal

__all__ = ["require_professional", "require_kind", "read_json"]


def require_professional(request: web.Request) -> Principal:
    return require_kind(request, "user")


def require_kind(request: web.Request, kind: str) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise web.HTTPUnauthorized(reason="Login required")
    if principal.kind != kind:
        raise Forbidden("you may not use this part of the API")
    return principal


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise Invalid("send a JSON body (Content-Type: application/json)")
    try:
        data = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data
