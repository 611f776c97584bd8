"""ICE configuration for browsers: STUN, and TURN with short-lived credentials (coturn ``use-auth-secret``).

username = ``"<expiry unix time>:<user reference>"``; credential = base64(HMAC-SHA1(shared secret, username)),
the "TURN REST API" scheme coturn checks with its ``static-auth-secret``. No public STUN server is ever added by
default: without configured servers, browsers use host candidates only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from ..config import ConfigError, IceSettings

__all__ = ["ice_configuration", "validate_ice", "turn_credentials", "TRANSPORT_POLICIES"]

TRANSPORT_POLICIES = ("all", "relay")
_STUN_SCHEMES = ("stun:", "stuns:")
_TURN_SCHEMES = ("turn:", "turns:")
_MAX_USER_REF = 64
# ":" separates the expiry in the username; anything outside this set is replaced too, to keep logs clean.
_UNSAFE_USER_REF = re.compile(r"[^A-Za-z0-9._@-]")


def validate_ice(ice: IceSettings) -> None:
    """Refuse an inconsistent ICE configuration with :class:`ConfigError` (call it at start-up)."""
    if ice.turn_urls and not ice.turn_secret:
        raise ConfigError("LUCARNE_TURN_URLS is set but LUCARNE_TURN_SECRET is not")
    if ice.transport_policy not in TRANSPORT_POLICIES:
        raise ConfigError("LUCARNE_ICE_POLICY must be 'all' or 'relay'")
    if ice.transport_policy == "relay" and not ice.turn_urls:
        raise ConfigError("LUCARNE_ICE_POLICY=relay needs LUCARNE_TURN_URLS")
    if ice.turn_ttl_s <= 0:
        raise ConfigError("LUCARNE_TURN_TTL must be a positive number of seconds")
    for name, urls, schemes in (("LUCARNE_STUN_URLS", ice.stun_urls, _STUN_SCHEMES),
                                ("LUCARNE_TURN_URLS", ice.turn_urls, _TURN_SCHEMES)):
        for url in urls:
            if not url.startswith(schemes):
                raise ConfigError(f"{name}: not a {' or '.join(schemes)} URL: {url!r}")


def _safe_user_ref(user_ref: str) -> str:
    return _UNSAFE_USER_REF.sub("_", user_ref)[:_MAX_USER_REF] or "anonymous"


def turn_credentials(secret: str, user_ref: str, now: datetime, ttl_s: int) -> tuple[str, str]:
    """``(username, credential)`` valid for ``ttl_s`` seconds from ``now`` under coturn's shared-secret scheme."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    username = f"{int(now.timestamp()) + ttl_s}:{_safe_user_ref(user_ref)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_configuration(ice: IceSettings, user_ref: str, now: datetime) -> dict[str, Any]:
    """The ``RTCConfiguration`` for one participant: ``{"iceServers": [...], "iceTransportPolicy": ...}``."""
    validate_ice(ice)
    servers: list[dict[str, Any]] = []
    if ice.stun_urls:
        servers.append({"urls": list(ice.stun_urls)})
    if ice.turn_urls:
        username, credential = turn_credentials(ice.turn_secret, user_ref, now, ice.turn_ttl_s)
        servers.append({"urls": list(ice.turn_urls), "username": username, "credential": credential})
    return {"iceServers": servers, "iceTransportPolicy": ice.transport_policy}
