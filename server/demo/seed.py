"""Seed the demo: accounts, a demo directory imported by the project's own importer, expertise profiles.

Every step is idempotent, so ``make run`` may run it on every start: missing accounts are created, the directory
is imported only while it is empty (never mixed into a real extract), an account is linked to its directory entry
only while it has none, and a profile is written only where none was set (the demo user's own edits stay).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from expertise import (
    ImportReport,
    ProfessionalNotFound,
    Profiles,
    ProfileUpdate,
    RejectFile,
    RoutingChange,
    import_rpps,
    metadata,
    routable_specialties,
    routing_changes,
)

from ..config import LimitSettings
from ..identity.accounts import Accounts
from ..platform.audit import AuditEvent, AuditLog
from ..platform.clock import Clock
from ..platform.db import SessionFactory
from ..platform.models import User

__all__ = ["DEMO_ACCOUNTS", "DEMO_EXTRACT", "DEMO_PROFILES", "DEMO_SPECIALTY", "DemoSeed", "seed_demo"]

# (user name, display name, role, password, RPPS of its entry in the demo directory or None). Development only.
DEMO_ACCOUNTS = (
    ("medecin", "Dr Camille Martin", "practitioner", "lucarne-demo-medecin", "10300000001"),
    ("regulateur", "Alex Bernard (SAMU)", "regulator", "lucarne-demo-regulateur", None),
    ("specialiste", "Dr Inès Moreau", "specialist", "lucarne-demo-specialiste", "10300000002"),
    ("admin", "Administrateur", "admin", "lucarne-demo-admin", None),
)
DEMO_SPECIALTY = "SM15"  # dermatology: the demo specialist is the only dermatologist who accepts tele-expertise
DEMO_EXTRACT = "PS_LibreAcces_Personne_activite_demo.txt"

# (RPPS, capacity, languages, accepted specialties): the demo specialist first, then one or two experts in other
# specialties and départements so that other requests find someone too. The other dermatologists have no profile.
DEMO_PROFILES = (
    ("10300000002", 5, ("en", "fr"), (DEMO_SPECIALTY,)),
    ("10300000006", 3, ("fr",), ("SM04",)),
    ("10300000007", 4, ("en", "fr"), ("SM04",)),
    ("10300000009", 3, ("fr",), ("SM42",)),
    ("10300000011", 3, ("es", "fr"), ("SM44",)),
    ("10300000013", 3, ("de", "fr"), ("SM38",)),
    ("10300000015", 2, ("fr",), ("SM20",)),
    ("10300000018", 3, ("fr", "it"), ("SM19",)),
)
# The directory's table, read only to tell an empty directory (the importer owns what is written there).
_PROFESSIONALS = metadata.tables["directory_professionals"]


@dataclass(frozen=True)
class DemoSeed:
    """What one seeding changed; all empty (and ``directory`` None) when the demo was already in place."""

    accounts: tuple[str, ...] = ()
    directory: ImportReport | None = None
    linked: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.accounts or self.directory or self.linked or self.profiles)

    def summary(self) -> list[str]:
        lines = []
        if self.directory is not None:
            lines.append(f"demo directory: {self.directory.inserted} professionals imported")
        if self.accounts:
            lines.append(f"demo accounts created: {', '.join(self.accounts)}")
        if self.linked:
            lines.append(f"demo accounts linked to their directory entry: {', '.join(self.linked)}")
        if self.profiles:
            lines.append(f"demo expertise profiles set: {len(self.profiles)}")
        return lines or ["demo already in place: nothing changed"]


def demo_extract() -> Path:
    return Path(str(resources.files(__package__).joinpath("data", DEMO_EXTRACT)))


async def seed_demo(engine: AsyncEngine, sessions: SessionFactory, clock: Clock, limits: LimitSettings) -> DemoSeed:
    """Bring the demo in place on a migrated database (see the module's docstring for what is kept)."""
    now, routable_before = clock.now(), await routable_specialties(engine)
    directory = await _import_directory(engine, now) if await _directory_is_empty(engine) else None
    accounts = await _create_accounts(Accounts(sessions, clock, limits))
    linked = await _link_accounts(sessions)
    profiles = await _set_profiles(Profiles(sessions), now)
    changes = routing_changes(routable_before, await routable_specialties(engine))
    await _audit_routing(AuditLog(sessions, clock), changes)
    return DemoSeed(accounts, directory, linked, profiles)


async def _audit_routing(audit: AuditLog, changes: list[RoutingChange]) -> None:
    """Who became routable, in the audit log as for any directory import: a demo seeded on the wrong database
    shows there."""
    for change in changes:
        await audit.record(AuditEvent("cli:demo", "operator", "directory.routing.change", change.describe(), "ok"))


async def _directory_is_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        return not await connection.scalar(select(func.count()).select_from(_PROFESSIONALS))


async def _import_directory(engine: AsyncEngine, now: datetime) -> ImportReport:
    # atomic: the shipped file has no bad line, and a demo directory is whole or absent.
    return await import_rpps(engine, demo_extract(), now=now, rejects=RejectFile(io.StringIO()), atomic=True)


async def _create_accounts(accounts: Accounts) -> tuple[str, ...]:
    created = []
    for username, name, role, password, _ in DEMO_ACCOUNTS:
        if await accounts.find(username) is None:
            await accounts.create(username, password, name, role)
            created.append(username)
    return tuple(created)


async def _link_accounts(sessions: SessionFactory) -> tuple[str, ...]:
    """Link each demo account that has no directory entry yet to its own, when the directory holds it."""
    linked = []
    for username, _, _, _, rpps in DEMO_ACCOUNTS:
        if rpps is None or not await _listed(sessions, rpps):
            continue
        try:
            async with sessions.begin() as session:
                done = await session.execute(update(User).where(User.username == username, User.rpps.is_(None))
                                             .values(rpps=rpps))
        except IntegrityError:  # another account already holds this entry: leave both as they are
            continue
        if getattr(done, "rowcount", 0):
            linked.append(username)
    return tuple(linked)


async def _listed(sessions: SessionFactory, rpps: str) -> bool:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(_PROFESSIONALS)
                                    .where(_PROFESSIONALS.c.rpps == rpps)) == 1


async def _set_profiles(profiles: Profiles, now: datetime) -> tuple[str, ...]:
    """Write each demo profile that was never set (no accepted specialty and no capacity)."""
    written = []
    for rpps, capacity, languages, specialties in DEMO_PROFILES:
        try:
            current = await profiles.get(rpps, now)
        except ProfessionalNotFound:  # a real directory without the demo entries
            continue
        if current.specialties or current.capacity:
            continue
        await profiles.update(rpps, ProfileUpdate(capacity, languages, specialties), now)
        written.append(rpps)
    return tuple(written)
