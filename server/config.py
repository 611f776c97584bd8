"""Settings: one frozen dataclass, read from the environment (``LUCARNE_*``) and validated at start-up.

Tests build :class:`Settings` directly or pass a dict to :func:`Settings.from_env`; nothing mutates ``os.environ``.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "IceSettings", "LimitSettings", "UploadSettings", "ConfigError", "PROJECT_ROOT",
           "load_or_create_key"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class IceSettings:
    """STUN/TURN servers handed to browsers. TURN credentials follow coturn's ``use-auth-secret`` scheme."""

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_ttl_s: int = 3600
    # "all" lets browsers go peer-to-peer; "relay" forces TURN (for hostile networks).
    transport_policy: str = "all"


@dataclass(frozen=True)
class LimitSettings:
    """Size and rate limits for every input, in one place so the docs and the tests can cite them."""

    max_request_bytes: int = 64 * 1024
    max_event_bytes: int = 96 * 1024
    max_sdp_bytes: int = 48 * 1024
    max_candidate_bytes: int = 1024
    max_chat_chars: int = 2000
    max_report_chars: int = 20000
    max_name_chars: int = 120
    login_failures_allowed: int = 5
    # Failed logins from one client address (an IPv6 /64 counts as one), whatever the user names: stops spraying.
    login_failures_per_address: int = 20
    login_window_s: int = 900
    # A client has this long to send a request's whole head (request line and headers) from the moment its
    # connection opens or its previous response ends; then the connection is closed (slowloris).
    header_timeout_s: float = 10.0
    # A form or JSON body (at most max_request_bytes) must arrive within this time (a slow-body slowloris).
    body_timeout_s: float = 30.0
    signal_events_per_s: int = 50
    # SDP offers the server answers itself (live view, relay): see media/sdp.py.
    max_sdp_media_sections: int = 8
    max_sdp_candidates: int = 64
    # Server-side peers (media/settings.py PeerLimits): the process holds at most max_server_peers, of which
    # the last server_peers_for_publishers are kept for callers and relayed publishers; each professional or
    # participant watches at most max_viewers_per_member videos, each case / consultation has at most
    # max_viewers_per_case viewers or relay subscribers. A refusal says to retry after peer_retry_after_s.
    max_server_peers: int = 64
    server_peers_for_publishers: int = 16
    max_publishers_per_member: int = 8
    max_viewers_per_member: int = 4
    max_viewers_per_case: int = 16
    peer_retry_after_s: int = 10
    # Socket connections per client address (token bucket); behind a proxy every client shares its address.
    socket_connects_per_s: float = 5.0
    socket_connect_burst: int = 60


_MIB = 1024 * 1024


@dataclass(frozen=True)
class UploadSettings:
    """Quotas on uploaded files: tele-expertise attachments (per file, per request, per account) and the stills of
    a regulation case (per image, per case, per sender). A ``*_window_s`` is a sliding window: at most
    ``*_per_window`` files and ``*_bytes_per_window`` bytes in any such stretch of time (429 with Retry-After);
    totals (per request, per case, per account) answer 413."""

    attachment_max_bytes: int = 10 * _MIB
    attachments_per_request: int = 10
    attachment_bytes_per_request: int = 40 * _MIB
    user_window_s: int = 60
    user_uploads_per_window: int = 10
    user_bytes_per_window: int = 25 * _MIB
    user_bytes_max: int = 2048 * _MIB
    still_max_bytes: int = 8 * _MIB
    stills_per_case: int = 500
    still_bytes_per_case: int = 400 * _MIB
    # The caller's degraded mode sends one still every 5 s (12 a minute): 20 leaves room for photos.
    still_window_s: int = 60
    stills_per_window: int = 20

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"upload setting {name} must be a positive whole number")


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: bytes
    master_key: bytes
    public_url: str = "https://localhost:8443"
    host: str = "0.0.0.0"
    port: int = 8443
    allowed_origins: tuple[str, ...] = ()
    redis_url: str = ""
    event_loop: str = "uvloop"
    # glibc malloc arenas for the serving process (0: glibc's default, 8 per core); see server/platform/runtime.py.
    malloc_arenas: int = 2
    tls_cert: Path | None = None
    tls_key: Path | None = None
    web_dir: Path = PROJECT_ROOT / "web"
    data_dir: Path = PROJECT_ROOT / "var"
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    caller_link_ttl_s: int = 1800
    # Host addresses the server's own WebRTC peers offer (empty: every interface but loopback).
    media_hosts: tuple[str, ...] = ()
    # UDP ports the server's own WebRTC peers bind (inclusive range; None: any port the system gives).
    media_ports: tuple[int, int] | None = None
    # Teleconsultation media through the server: "auto" when peer to peer fails, "always", or "never".
    media_relay: str = "auto"
    # How long a pair of browsers tries peer to peer before "auto" relays it through the server.
    media_relay_after_s: float = 10.0
    session_ttl_s: int = 12 * 3600
    link_ttl_s: int = 24 * 3600
    # A patient or guest link opens this long before the appointment (it used to work months ahead).
    link_opens_before_s: int = 24 * 3600
    cookie_secure: bool = True
    # Tele-expertise deadlines per urgency ("urgent=30m/4h,routine=8h/72h"; empty = defaults) and timer polling.
    expertise_deadlines: str = ""
    expertise_timer_interval_s: float = 1.0
    ice: IceSettings = field(default_factory=IceSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)

    def __post_init__(self) -> None:
        if len(self.secret_key) < 32:
            raise ConfigError("LUCARNE_SECRET_KEY must be at least 32 bytes")
        if len(self.master_key) != 32:
            raise ConfigError("LUCARNE_MASTER_KEY must be 32 bytes (base64-encoded)")
        if not self.public_url.startswith(("https://", "http://")):
            raise ConfigError("LUCARNE_PUBLIC_URL must be an http(s) URL")
        if self.event_loop not in ("uvloop", "asyncio"):
            raise ConfigError("LUCARNE_EVENT_LOOP must be uvloop or asyncio")
        if not 0 <= self.malloc_arenas <= 64:
            raise ConfigError("LUCARNE_MALLOC_ARENAS must be between 0 (glibc's default) and 64")
        if self.media_relay not in ("auto", "always", "never"):
            raise ConfigError("LUCARNE_MEDIA_RELAY must be auto, always or never")
        if self.media_ports is not None:
            low, high = self.media_ports
            if not 1024 <= low <= high <= 65535:
                raise ConfigError("LUCARNE_MEDIA_PORTS must be LOW-HIGH with 1024 <= LOW <= HIGH <= 65535")
        if self.link_opens_before_s < 0:
            raise ConfigError("LUCARNE_LINK_OPENS_BEFORE must be a number of seconds, 0 or more")
        if self.limits.socket_connects_per_s <= 0 or self.limits.socket_connect_burst < 1:
            raise ConfigError("LUCARNE_SOCKET_CONNECTS_PER_S must be positive "
                              "and LUCARNE_SOCKET_CONNECT_BURST at least 1")
        if not 1.0 <= self.media_relay_after_s <= 120.0:
            raise ConfigError("LUCARNE_MEDIA_RELAY_AFTER must be between 1 and 120 seconds")
        limits = self.limits
        if not 0 <= limits.server_peers_for_publishers < limits.max_server_peers:
            raise ConfigError("server_peers_for_publishers must be smaller than max_server_peers")
        if min(limits.max_publishers_per_member, limits.max_viewers_per_member, limits.max_viewers_per_case) < 1:
            raise ConfigError("the server-peer caps per member and per case must be at least 1")

    @property
    def origins(self) -> tuple[str, ...]:
        """Origins accepted for state-changing requests and socket.io connections (never ``*``)."""
        return (self.public_url.rstrip("/"), *self.allowed_origins)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, var_dir: Path | None = None) -> Settings:
        """Build settings from ``LUCARNE_*`` variables; dev keys are created once under ``var_dir``."""
        env = os.environ if env is None else env
        var = var_dir or Path(env.get("LUCARNE_VAR_DIR", PROJECT_ROOT / "var"))
        port = int(env.get("LUCARNE_PORT", "8443"))
        secret = _key_from(env, "LUCARNE_SECRET_KEY", var / "secret.key", 48)
        master = _key_from(env, "LUCARNE_MASTER_KEY", var / "master.key", 32)
        cert_dir = Path(env.get("LUCARNE_CERT_DIR", PROJECT_ROOT / "certs"))
        return cls(
            database_url=env.get("LUCARNE_DATABASE_URL", f"sqlite+aiosqlite:///{var / 'lucarne.db'}"),
            secret_key=secret,
            master_key=master,
            public_url=env.get("LUCARNE_PUBLIC_URL", f"https://localhost:{port}"),
            host=env.get("LUCARNE_HOST", "0.0.0.0"),
            port=port,
            allowed_origins=_csv(env.get("LUCARNE_ALLOWED_ORIGINS", "")),
            redis_url=env.get("LUCARNE_REDIS_URL", ""),
            event_loop=env.get("LUCARNE_EVENT_LOOP", "uvloop"),
            malloc_arenas=int(env.get("LUCARNE_MALLOC_ARENAS", "2")),
            data_dir=var,
            sms_gateway_url=env.get("LUCARNE_SMS_GATEWAY_URL", ""),
            sms_gateway_token=env.get("LUCARNE_SMS_GATEWAY_TOKEN", ""),
            caller_link_ttl_s=int(env.get("LUCARNE_CALLER_LINK_TTL", "1800")),
            link_opens_before_s=int(_number(env, "LUCARNE_LINK_OPENS_BEFORE", str(24 * 3600))),
            media_hosts=_csv(env.get("LUCARNE_MEDIA_HOSTS", "")),
            expertise_deadlines=env.get("LUCARNE_EXPERTISE_DEADLINES", ""),
            expertise_timer_interval_s=float(env.get("LUCARNE_EXPERTISE_TIMER_INTERVAL", "1")),
            media_ports=_port_range(env.get("LUCARNE_MEDIA_PORTS", "")),
            media_relay=env.get("LUCARNE_MEDIA_RELAY", "auto").strip().lower(),
            media_relay_after_s=_number(env, "LUCARNE_MEDIA_RELAY_AFTER", "10"),
            tls_cert=cert_dir / "server.pem",
            tls_key=cert_dir / "server-key.pem",
            limits=LimitSettings(
                socket_connects_per_s=_number(env, "LUCARNE_SOCKET_CONNECTS_PER_S", "5"),
                socket_connect_burst=int(_number(env, "LUCARNE_SOCKET_CONNECT_BURST", "60")),
            ),
            uploads=_uploads(env),
            ice=IceSettings(
                stun_urls=_csv(env.get("LUCARNE_STUN_URLS", "")),
                turn_urls=_csv(env.get("LUCARNE_TURN_URLS", "")),
                turn_secret=env.get("LUCARNE_TURN_SECRET", ""),
                turn_ttl_s=int(env.get("LUCARNE_TURN_TTL", "3600")),
                transport_policy=env.get("LUCARNE_ICE_POLICY", "all"),
            ),
        )


# LUCARNE_UPLOAD_<FIELD> (upper case) overrides one UploadSettings field, e.g. LUCARNE_UPLOAD_USER_BYTES_MAX.
def _uploads(env: Mapping[str, str]) -> UploadSettings:
    values: dict[str, int] = {}
    for name in UploadSettings.__dataclass_fields__:
        raw = env.get(f"LUCARNE_UPLOAD_{name.upper()}")
        if raw is not None:
            try:
                values[name] = int(raw)
            except ValueError as exc:
                raise ConfigError(f"LUCARNE_UPLOAD_{name.upper()} must be a whole number") from exc
    return UploadSettings(**values)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _port_range(value: str) -> tuple[int, int] | None:
    value = value.strip()
    if not value:
        return None
    low, dash, high = value.partition("-")
    try:
        return (int(low), int(high if dash else low))
    except ValueError as exc:
        raise ConfigError("LUCARNE_MEDIA_PORTS must look like 50000-50100") from exc


def _number(env: Mapping[str, str], name: str, default: str) -> float:
    try:
        return float(env.get(name, default))
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number") from exc


def _key_from(env: Mapping[str, str], name: str, path: Path, size: int) -> bytes:
    if name in env:
        try:
            return base64.b64decode(env[name], validate=True)
        except ValueError as exc:
            raise ConfigError(f"{name} is not valid base64") from exc
    return load_or_create_key(path, size)


def load_or_create_key(path: Path, size: int) -> bytes:
    """Read a base64 key file, creating it (mode 0600) with fresh random bytes on first use."""
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode())
    return key
