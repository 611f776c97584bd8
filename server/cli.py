"""``lucarne`` command line: run the server, migrate, manage accounts, verify the audit log, make dev certs."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from aiohttp import web

from .config import Settings
from .demo import DEMO_ACCOUNTS, DemoSeed, seed_demo
from .expertise.directory_cli import add_directory_parser, run_directory
from .identity.accounts import ROLES, Accounts
from .identity.deactivation import deactivate_account
from .identity.session_bus import SessionBus
from .identity.sessions import WebSessions
from .platform.audit import AuditLog, format_report, verify
from .platform.clock import SystemClock
from .platform.db import open_database
from .platform.errors import LucarneError
from .platform.migrate import upgrade

__all__ = ["main", "DEMO_ACCOUNTS"]

logger = logging.getLogger(__name__)

# After SIGTERM, requests still running get this long to finish, then as long again once cancelled (aiohttp's
# shutdown_timeout): with sockets closed first (server/app.py _close_sockets) the process exits in seconds.
SHUTDOWN_GRACE_S = 3.0

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lucarne", description="Lucarne teleconsultation server")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="migrate the database and serve HTTPS")
    run.add_argument("--demo", action="store_true", help="create the demo accounts, directory and expertise profiles "
                                                         "(idempotent)")
    run.add_argument("--dev-certs", action="store_true", help="create/refresh the development CA in certs/")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("certs", help="create/refresh the development certificate authority and server certificate")
    user = sub.add_parser("create-user", help="create a professional account (password read from stdin)")
    user.add_argument("username")
    user.add_argument("--name", required=True)
    user.add_argument("--role", choices=ROLES, default="practitioner")
    user.add_argument("--rpps", help="11-digit RPPS identifier: links the account to its directory entry")
    deactivate = sub.add_parser("deactivate-user", help="deactivate an account: ends its sessions and closes its "
                                                        "open sockets on every server")
    deactivate.add_argument("username")
    add_directory_parser(sub)
    audit = sub.add_parser("audit", help="audit log tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    check = audit_sub.add_parser("verify", help="verify the hash chain of the audit log")
    check.add_argument("--expect-head", help="a head hash exported earlier, to detect a truncated tail")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    command = args.command or "run"
    if command == "run":
        return _run(settings, demo=getattr(args, "demo", False), dev_certs=getattr(args, "dev_certs", False))
    if command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    if command == "certs":
        _dev_certs(settings)
        return 0
    if command == "create-user":
        password = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("Password: ")
        try:
            asyncio.run(_create_user(settings, args.username, password, args.name, args.role, args.rpps))
        except LucarneError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        return 0
    if command == "deactivate-user":
        try:
            asyncio.run(_deactivate_user(settings, args.username))
        except LucarneError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        return 0
    if command == "audit":
        return asyncio.run(_verify(settings, args.expect_head))
    if command == "directory":
        return asyncio.run(run_directory(settings, args))
    return 2


async def _migrate(settings: Settings) -> None:
    async with open_database(settings.database_url) as (engine, _):
        await upgrade(engine)


async def _create_user(settings: Settings, username: str, password: str, name: str, role: str,
                       rpps: str | None = None) -> None:
    async with open_database(settings.database_url) as (_, sessions):
        account = await Accounts(sessions, SystemClock(), settings.limits).create(username, password, name, role,
                                                                                 rpps=rpps)
    print(f"created {account.role} {account.username}" + (f" (RPPS {account.rpps})" if account.rpps else ""))


async def _deactivate_user(settings: Settings, username: str) -> None:
    bus = SessionBus(settings.redis_url) if settings.redis_url else None

    async def sessions_ended(hashes: Sequence[str]) -> None:
        if bus is not None:  # servers close those sockets at once; without Redis, their sweep does within a second
            await bus.publish(hashes)

    try:
        async with open_database(settings.database_url) as (_, sessions):
            clock = SystemClock()
            done = await deactivate_account(Accounts(sessions, clock, settings.limits),
                                            WebSessions(sessions, clock, settings.session_ttl_s),
                                            AuditLog(sessions, clock), sessions_ended, username,
                                            actor="cli", actor_role="admin")
    finally:
        if bus is not None:
            await bus.close()
    print(f"deactivated {done.account.username}; {done.sessions_revoked} session(s) ended")


async def _verify(settings: Settings, expected_head: str | None) -> int:
    async with open_database(settings.database_url) as (_, sessions):
        report = await verify(sessions, expected_head=expected_head)
    print(format_report(report))
    return 0 if report.ok else 1


async def _seed_demo(settings: Settings) -> DemoSeed:
    async with open_database(settings.database_url) as (engine, sessions):
        return await seed_demo(engine, sessions, SystemClock(), settings.limits)


def _dev_certs(settings: Settings) -> None:
    from .platform.certs import describe, ensure_dev_certs, local_hosts

    assert settings.tls_cert is not None
    paths = ensure_dev_certs(settings.tls_cert.parent, local_hosts())
    print(describe(paths))


def _is_lan_ipv4(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and not address.is_loopback


def _lan_settings(settings: Settings) -> Settings:
    """Development default: links name this machine's LAN address so a phone on the same Wi-Fi can open them;
    the practitioner may still browse via localhost."""
    from .platform.certs import local_hosts

    lan = [h for h in local_hosts() if _is_lan_ipv4(h)]
    localhost = (f"https://localhost:{settings.port}", f"https://127.0.0.1:{settings.port}")
    if not lan:
        return settings
    public = f"https://{lan[0]}:{settings.port}"
    extra = tuple(f"https://{h}:{settings.port}" for h in lan[1:])
    return replace(settings, public_url=public,
                   allowed_origins=(*settings.allowed_origins, *localhost, *extra))


def _run(settings: Settings, *, demo: bool, dev_certs: bool) -> int:
    from .app import create_app
    from .platform.runtime import freeze_startup_heap, http_server_options, limit_malloc_arenas, new_event_loop
    from .platform.tls import server_ssl_context

    limit_malloc_arenas(settings.malloc_arenas)  # before any thread (SQLite connections run in threads)
    if dev_certs:
        _dev_certs(settings)
        if "LUCARNE_PUBLIC_URL" not in os.environ:
            settings = _lan_settings(settings)
    asyncio.run(_migrate(settings))
    if demo:
        for line in asyncio.run(_seed_demo(settings)).summary():
            print(line)
        print("Demo accounts (development only; the README has a five-minute tour):")
        for username, _, role, password, _ in DEMO_ACCOUNTS:
            print(f"  {role:13} {username} / {password}")
    assert settings.tls_cert is not None and settings.tls_key is not None
    context = server_ssl_context(settings.tls_cert, settings.tls_key)
    also = ", ".join(settings.allowed_origins) or "no other origin"
    print(f"Lucarne is serving {settings.public_url}/  (also {also})")
    print(f"Phones must trust {settings.tls_cert.parent / 'ca.pem'} (see certs/README.md).")
    app = create_app(settings)
    freeze_startup_heap()
    web.run_app(app, host=settings.host, port=settings.port, ssl_context=context, print=None, access_log=None,
                loop=new_event_loop(settings.event_loop), shutdown_timeout=SHUTDOWN_GRACE_S,
                **http_server_options(settings.limits.header_timeout_s))
    return 0
