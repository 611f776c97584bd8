"""Every piece of application state, as a typed ``web.AppKey`` (set once in ``create_app``)."""

from __future__ import annotations

import jinja2
from aiohttp import web

from expertise import Directory, DirectoryFhir, ExpertiseService, Profiles
from signaling import CallSignaling

from .config import Settings
from .identity.accounts import Accounts
from .identity.sessions import WebSessions
from .identity.socket_sessions import SocketSessions
from .platform.audit import AuditLog
from .platform.clock import Clock
from .platform.db import SessionFactory
from .regulation.cases import RegulationCases
from .regulation.live import LiveView
from .teleconsultation.calls import CallRules
from .teleconsultation.consultations import Consultations
from .teleconsultation.relay import CallRelay

__all__ = [
    "settings_key", "clock_key", "db_key", "accounts_key", "web_sessions_key", "audit_key",
    "consultations_key", "calls_key", "signaling_key", "templates_key", "regulation_key", "live_key",
    "directory_key", "profiles_key", "directory_fhir_key",
    "expertise_key",
    "relay_key", "socket_sessions_key",
]

settings_key = web.AppKey("settings", Settings)
clock_key = web.AppKey("clock", Clock)
db_key = web.AppKey("db", SessionFactory)
accounts_key = web.AppKey("accounts", Accounts)
web_sessions_key = web.AppKey("web_sessions", WebSessions)
audit_key = web.AppKey("audit", AuditLog)
consultations_key = web.AppKey("consultations", Consultations)
calls_key = web.AppKey("calls", CallRules)
signaling_key = web.AppKey("signaling", CallSignaling)
templates_key = web.AppKey("templates", jinja2.Environment)
regulation_key = web.AppKey("regulation", RegulationCases)
live_key = web.AppKey("live", LiveView)
directory_key = web.AppKey("directory", Directory)
profiles_key = web.AppKey("profiles", Profiles)
directory_fhir_key = web.AppKey("directory_fhir", DirectoryFhir)
expertise_key = web.AppKey("expertise", ExpertiseService)
relay_key = web.AppKey("relay", CallRelay)
socket_sessions_key = web.AppKey("socket_sessions", SocketSessions)
