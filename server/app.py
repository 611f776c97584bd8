"""The application factory: builds every service once, stores it under its AppKey and wires the domains."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import socketio
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from expertise import Directory, DirectoryFhir, Profiles
from media import MediaSettings, PeerLimits, PeerRegistry, SdpLimits
from signaling import NAMESPACE as CALL_NAMESPACE
from signaling import CallSignaling, Limits

from .config import Settings
from .expertise.api import setup_expertise
from .expertise.directory_api import setup_directory_routes
from .expertise.realtime import NAMESPACE as EXPERTISE_NAMESPACE
from .identity.accounts import Accounts
from .identity.links import LinkSigner
from .identity.session_bus import SessionBus
from .identity.sessions import WebSessions
from .identity.socket_sessions import SocketSessions
from .keys import (
    accounts_key,
    audit_key,
    calls_key,
    clock_key,
    consultations_key,
    db_key,
    directory_fhir_key,
    directory_key,
    live_key,
    profiles_key,
    regulation_key,
    relay_key,
    settings_key,
    signaling_key,
    socket_sessions_key,
    templates_key,
    web_sessions_key,
)
from .platform.audit import AuditLog
from .platform.blobs import BlobStore, sweep_temporary
from .platform.clock import Clock, SystemClock
from .platform.crypto import Sealer
from .platform.db import create_engine
from .platform.outage import GuardedAuthority
from .platform.turn import validate_ice
from .regulation.cases import RegulationCases
from .regulation.cases_api import setup_case_routes
from .regulation.live import LiveView
from .regulation.notify import HttpSmsGateway, OutboxNotifier, SmsNotifier
from .regulation.stills import StillLimits
from .teleconsultation.api import setup_api_routes
from .teleconsultation.calls import ROUTE_CACHE_S, SINGLE_PROCESS_ROUTE_CACHE_S, CallRules
from .teleconsultation.consultations import Consultations
from .teleconsultation.pages import setup_page_routes
from .teleconsultation.relay import CallRelay
from .web.admin_page import setup_admin_page
from .web.middlewares import setup_middlewares
from .web.templates import create_environment

__all__ = ["create_app"]

logger = logging.getLogger(__name__)
engine_key = web.AppKey("engine", AsyncEngine)


def _signaling_limits(settings: Settings) -> Limits:
    limits = settings.limits
    return Limits(max_event_bytes=limits.max_event_bytes, max_sdp_bytes=limits.max_sdp_bytes,
                  max_candidate_bytes=limits.max_candidate_bytes, max_chat_chars=limits.max_chat_chars,
                  signal_events_per_s=limits.signal_events_per_s, connects_per_s=limits.socket_connects_per_s,
                  connect_burst=limits.socket_connect_burst)


def _seconds(clock: Clock) -> Callable[[], float]:
    """The app clock as seconds, for the rate limits (tests move it with ManualClock)."""
    return lambda: clock.now().timestamp()


def _media_settings(settings: Settings) -> MediaSettings:
    limits = settings.limits
    return MediaSettings(
        host_addresses=settings.media_hosts, port_range=settings.media_ports,
        sdp=SdpLimits(max_bytes=limits.max_sdp_bytes, max_media_sections=limits.max_sdp_media_sections,
                      max_candidates=limits.max_sdp_candidates),
        limits=PeerLimits(max_peers=limits.max_server_peers, publisher_reserve=limits.server_peers_for_publishers,
                          max_publishers_per_member=limits.max_publishers_per_member,
                          max_subscribers_per_member=limits.max_viewers_per_member,
                          max_subscribers_per_group=limits.max_viewers_per_case,
                          retry_after_s=limits.peer_retry_after_s))


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """Build the Lucarne application. The database must already be migrated (``lucarne migrate``)."""
    clock = clock or SystemClock()
    validate_ice(settings.ice)  # a bad STUN/TURN setting stops the start, not the first call
    engine = create_engine(settings.database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    sealer = Sealer(settings.master_key)
    audit = AuditLog(sessions, clock)
    web_sessions = WebSessions(sessions, clock, settings.session_ttl_s)
    # Open sockets follow their session: closed when it ends, in every process (Redis notices when configured).
    socket_sessions = SocketSessions(web_sessions, clock,
                                     bus=SessionBus(settings.redis_url) if settings.redis_url else None)
    consultations = Consultations(sessions, clock, sealer, LinkSigner(settings.secret_key), audit,
                                  settings.public_url, settings.link_ttl_s,
                                  opens_before_s=settings.link_opens_before_s)
    media = {"relay": settings.media_relay, "p2pTimeoutMs": int(settings.media_relay_after_s * 1000)}
    calls = CallRules(sessions, web_sessions, clock, sealer, audit, settings.ice, media,
                      socket_sessions=socket_sessions,
                      route_cache_s=ROUTE_CACHE_S if settings.redis_url else SINGLE_PROCESS_ROUTE_CACHE_S)
    socket_sessions.on_consultation_ended(lambda _consultation: calls.forget_routes())
    regulation = RegulationCases(sessions, clock, sealer, LinkSigner(settings.secret_key), audit,
                                 BlobStore(settings.data_dir / "blobs", sealer), _notifier(settings),
                                 settings.public_url, settings.caller_link_ttl_s,
                                 still_limits=StillLimits.from_settings(settings.uploads))
    # One registry owns every server-side peer of the process (live views and relayed calls alike).
    peers = PeerRegistry(_media_settings(settings))
    relay = CallRelay(peers, calls)
    manager = socketio.AsyncRedisManager(settings.redis_url) if settings.redis_url else None
    # A database outage during a socket event is acknowledged "unavailable", not "internal".
    signaling = CallSignaling(GuardedAuthority(calls), origins=settings.origins,
                              limits=_signaling_limits(settings),
                              client_manager=manager, relay=relay if settings.media_relay != "never" else None,
                              clock=_seconds(clock))
    socket_sessions.bind(signaling.sio, (CALL_NAMESPACE, EXPERTISE_NAMESPACE))

    app = web.Application(client_max_size=settings.limits.max_request_bytes)
    app[settings_key] = settings
    app[clock_key] = clock
    app[engine_key] = engine
    app[db_key] = sessions
    app[audit_key] = audit
    app[accounts_key] = Accounts(sessions, clock, settings.limits)
    app[web_sessions_key] = web_sessions
    app[socket_sessions_key] = socket_sessions
    app[consultations_key] = consultations
    app[calls_key] = calls
    app[regulation_key] = regulation
    app[live_key] = LiveView(peers, regulation)
    app[relay_key] = relay
    app[signaling_key] = signaling
    app[templates_key] = create_environment(settings.web_dir)
    # Routing pools cached 5 s per specialty; this process's profile changes invalidate them at once.
    directory = Directory(sessions, pool_ttl=5.0)
    app[directory_key] = directory
    app[profiles_key] = Profiles(sessions, on_change=directory.invalidate)
    app[directory_fhir_key] = DirectoryFhir(sessions)

    setup_middlewares(app)
    setup_page_routes(app)
    setup_api_routes(app)
    setup_case_routes(app)
    setup_directory_routes(app)
    setup_admin_page(app)
    setup_expertise(app, settings, sessions, clock, sealer, audit)
    app.router.add_get("/readyz", readyz)
    app.router.add_static("/static", settings.web_dir / "static", follow_symlinks=False)
    signaling.attach(app)
    app.cleanup_ctx.append(_engine_lifecycle)
    app.on_startup.append(_sweep_blob_temporaries)
    app.cleanup_ctx.append(_socket_sessions_lifecycle)
    app.on_shutdown.append(_close_sockets)
    return app


async def _sweep_blob_temporaries(app: web.Application) -> None:
    """Half-written blobs of a process that was killed mid-write (a write never leaves one otherwise)."""
    for name in ("blobs", "expertise-blobs"):
        removed = await asyncio.to_thread(sweep_temporary, app[settings_key].data_dir / name)
        if removed:
            logger.warning("removed %d unfinished blob writes from %s", removed, name)


def _notifier(settings: Settings) -> SmsNotifier:
    if settings.sms_gateway_url:
        return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token)
    return OutboxNotifier(settings.data_dir / "sms-outbox.jsonl")


async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[db_key]() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        logger.exception("readiness check failed")
        return web.json_response({"status": "database unavailable"}, status=503)
    return web.json_response({"status": "ready"})


async def _engine_lifecycle(app: web.Application) -> AsyncIterator[None]:
    await app[calls_key].recover_interrupted()  # calls a killed process of this host left behind
    yield
    await app[directory_key].close()
    await app[engine_key].dispose()


async def _socket_sessions_lifecycle(app: web.Application) -> AsyncIterator[None]:
    await app[socket_sessions_key].start()
    yield
    await app[socket_sessions_key].close()


async def _close_sockets(app: web.Application) -> None:
    await app[signaling_key].close()
    await app[calls_key].close()
    await app[relay_key].close_all()
    await app[live_key].close_all()
