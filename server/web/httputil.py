"""Small helpers shared by the handlers: who is calling, and reading a bounded JSON or binary body."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..identity.sessions import Principal
from ..platform.errors import Forbidden, Invalid
from .context import json_body_key, principal_of
from .inputs import parse_json

__all__ = ["require_professional", "require_kind", "read_json", "read_body"]


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
    """The JSON object of the body, already checked by the input middleware (valid text, bounded depth)."""
    if request.content_type != "application/json":
        raise Invalid("send a JSON body (Content-Type: application/json)")
    data = request[json_body_key] if json_body_key in request else parse_json(await request.read())
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it is known to exceed ``limit`` bytes.

    ``request.content.read(n)`` would return only what happens to be buffered, cutting a large upload short.
    """
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)
