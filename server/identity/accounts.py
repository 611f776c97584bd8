"""Professional accounts: argon2id password hashes and a database-backed login rate limit."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..config import LimitSettings
from ..platform.clock import Clock
from ..platform.db import SessionFactory
from ..platform.errors import Invalid, NotFound, RateLimited
from ..platform.ids import new_id
from ..platform.models import LoginAttempt, User

__all__ = ["Account", "Accounts", "ROLES"]

logger = logging.getLogger(__name__)

ROLES = ("practitioner", "regulator", "specialist", "admin")
# Verifying against a real hash when the user does not exist keeps response times alike (no user-name oracle).
_DUMMY_PASSWORD = "lucarne-timing-equaliser"


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    display_name: str
    role: str
    rpps: str | None = None  # directory entry of the account (11-digit RPPS), if linked


class Accounts:
    def __init__(self, sessions: SessionFactory, clock: Clock, limits: LimitSettings) -> None:
        self._sessions = sessions
        self._clock = clock
        self._limits = limits
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(_DUMMY_PASSWORD)

    async def create(self, username: str, password: str, display_name: str, role: str, *,
                     rpps: str | None = None) -> Account:
        if role not in ROLES:
            raise Invalid(f"unknown role {role!r}")
        if rpps is not None and (len(rpps) != 11 or not rpps.isdigit()):
            raise Invalid("the RPPS identifier must be 11 digits")
        if not 3 <= len(username) <= 80 or len(password) < 10:
            raise Invalid("user name must be 3-80 characters and the password at least 10")
        user = User(
            id=new_id(),
            username=username.lower(),
            display_name=display_name[:120],
            role=role,
            password_hash=self._hasher.hash(password),
            active=True,
            created_at=self._clock.now(),
            rpps=rpps,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(user)
        except IntegrityError as exc:
            raise Invalid(f"the user name {username.lower()!r} or the RPPS identifier is already taken") from exc
        return _account(user)

    async def get(self, user_id: str) -> Account | None:
        async with self._sessions() as session:
            user = await session.get(User, user_id)
        return _account(user) if user is not None and user.active else None

    async def find(self, username: str) -> Account | None:
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.username == username.lower()))
        return _account(user) if user is not None else None

    async def deactivate(self, username: str) -> Account:
        """Mark the account inactive: it can no longer log in and its sessions stop resolving (see
        ``deactivation.py`` for revoking them and closing their sockets at once)."""
        async with self._sessions.begin() as session:
            user = await session.scalar(select(User).where(User.username == username.lower()))
            if user is None:
                raise NotFound(f"no account is named {username.lower()[:80]!r}")
            user.active = False
            return _account(user)

    async def authenticate(self, username: str, password: str, remote: str) -> Account | None:
        """Check a password; raise :class:`RateLimited` after too many recent failures for this name, or from
        this client address whatever the names tried."""
        key = f"user:{username.lower()[:80]}"
        address = _address_key(remote)
        if address is not None:
            await self._check_rate(address, self._limits.login_failures_per_address)
        await self._check_rate(key, self._limits.login_failures_allowed)
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.username == username.lower()))
        ok = self._verify(user.password_hash if user else self._dummy_hash, password) and bool(user and user.active)
        await self._remember(key, ok)
        if not ok and address is not None:
            # A success does not clear the address's failures: one valid account must not reset a spray.
            await self._remember(address, False)
        if ok and user is not None:
            if self._hasher.check_needs_rehash(user.password_hash):
                await self._rehash(user.id, password)
            return _account(user)
        logger.info("login failed for a user name from %s", remote)
        return None

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _check_rate(self, key: str, allowed: int) -> None:
        since = self._clock.now() - timedelta(seconds=self._limits.login_window_s)
        async with self._sessions() as session:
            failures = await session.scalar(
                select(func.count()).where(LoginAttempt.key == key, LoginAttempt.at >= since, ~LoginAttempt.success)
            )
        if (failures or 0) >= allowed:
            raise RateLimited("too many failed logins; try again in a few minutes")

    async def _remember(self, key: str, success: bool) -> None:
        async with self._sessions.begin() as session:
            if success:
                await session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
            else:
                session.add(LoginAttempt(key=key, at=self._clock.now(), success=False))

    async def _rehash(self, user_id: str, password: str) -> None:
        async with self._sessions.begin() as session:
            user = await session.get(User, user_id)
            if user is not None:
                user.password_hash = self._hasher.hash(password)


def _address_key(remote: str) -> str | None:
    """The rate-limit key of a client address: the address itself for IPv4, its /64 for IPv6 (one subscriber
    usually holds a whole /64); None when unknown."""
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"addr:{address.ipv4_mapped}"
        return f"addr:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"addr:{address}"


def _account(user: User) -> Account:
    return Account(id=user.id, username=user.username, display_name=user.display_name, role=user.role,
                   rpps=user.rpps)
