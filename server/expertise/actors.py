"""Who asks, as tele-expertise sees it, and its errors as HTTP errors (API, FHIR, pages)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from expertise import (
    Actor,
    BillingLimitReached,
    InvalidRequest,
    InvalidTransition,
    RequestError,
    RequestForbidden,
    RequestNotFound,
    profession_of,
)

from ..identity.sessions import Principal
from ..keys import db_key
from ..platform.errors import Conflict, Forbidden, Invalid, LucarneError, NotFound
from ..platform.models import User
from ..web.httputil import require_professional

__all__ = ["translate_errors", "actor_for", "actor_from_principal"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def translate_errors(handler: Handler) -> Handler:
    """Domain errors → the host's HTTP errors (the error middleware renders them)."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestNotFound as exc:
            raise NotFound(exc.message) from exc
        except RequestForbidden as exc:
            raise Forbidden(exc.message) from exc
        except (InvalidTransition, BillingLimitReached) as exc:
            raise Conflict(exc.message) from exc
        except InvalidRequest as exc:
            raise Invalid(exc.message) from exc
        except RequestError as exc:
            raise LucarneError(exc.message) from exc

    return run


async def actor_for(request: web.Request) -> Actor:
    principal = require_professional(request)
    return await actor_from_principal(request.app, principal)


async def actor_from_principal(app: web.Application, principal: Principal) -> Actor:
    assert principal.user_id is not None
    async with app[db_key]() as session:
        user = await session.get(User, principal.user_id)
    rpps = user.rpps if user is not None else None
    return Actor(principal.user_id, principal.role, rpps, await profession_of(app[db_key], rpps))
