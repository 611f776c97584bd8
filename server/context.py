"""Request-scoped values set by middleware (typed ``web.RequestKey``)."""

from __future__ import annotations

from aiohttp import web

from .sessions import Principal

__all__ = ["principal_key", "principal_of"]

principal_key = web.RequestKey("principal", Principal)


def principal_of(request: web.Request) -> Principal | None:
    return request.get(principal_key)
