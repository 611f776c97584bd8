"""The database going away (a restart, a failover): a clear "try again" instead of an internal error.

A write during the outage fails whole (its transaction never commits), so nothing is half-saved and a retry after
the outage writes it once. The engine's pool checks connections before use (``pool_pre_ping``), so the first
request after the database is back gets a fresh connection.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from signaling import SignalingError

__all__ = ["database_unavailable", "Unavailable", "UNAVAILABLE_MESSAGE", "GuardedAuthority"]

UNAVAILABLE_MESSAGE = "The service is briefly unavailable (its database is restarting); try again in a moment."


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database cannot be reached, rather than a bug or bad data."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OperationalError, InterfaceError)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (ConnectionError, TimeoutError)) or type(current).__name__ in _DRIVER_ERRORS:
            return True
        current = current.__cause__ or current.__context__
    return False


# asyncpg's connection-level errors, by name (the driver is optional: SQLite deployments do not install it).
_DRIVER_ERRORS = frozenset({"ConnectionDoesNotExistError", "CannotConnectNowError", "ConnectionFailureError",
                            "PostgresConnectionError", "AdminShutdownError"})


class Unavailable(SignalingError):
    """Socket acknowledgement for an event the database could not serve: ``unavailable``, not ``internal``."""

    code = "unavailable"


class GuardedAuthority:
    """Wraps the host's call rules so that a database outage during a socket event is answered ``unavailable``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        # Called once per name: the wrapper is kept on the instance, so a hot event (signal) pays no wrapping.
        value = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(value):
            return value  # plain attributes are read through each time
        guarded = _guarded(value)
        setattr(self, name, guarded)
        return guarded


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except SignalingError:
            raise
        except Exception as exc:
            if database_unavailable(exc):
                raise Unavailable(UNAVAILABLE_MESSAGE) from exc
            raise

    return run
