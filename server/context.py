"""Request-scoped values set by middleware (typed ``web.RequestKey``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .sessions import Principal

__all__ = ["principal_key", "principal_of", "json_body_key"]

principal_key = web.RequestKey("principal", Principal)
# The JSON body, parsed and checked once by the input middleware (server/middlewares.py).
json_body_key = web.RequestKey("json_body", Any)


def principal_of(request: web.Request) -> Principal | None:
    return request.get(principal_key)
