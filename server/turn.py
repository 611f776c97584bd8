"""ICE configuration for browsers: STUN, and TURN with short-lived credentials (coturn ``use-auth-secret``).

username = ``"<expiry unix time>:<user reference>"``; credential = base64(HMAC-SHA1(shared secret, username)).
No public STUN server is ever added by default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from .config import ConfigError, IceSettings

__all__ = ["ice_configuration", "validate_ice", "turn_credentials"]


def validate_ice(ice: IceSettings) -> None:
    if ice.turn_urls and not ice.turn_secret:
        raise ConfigError("LUCARNE_TURN_URLS is set but LUCARNE_TURN_SECRET is not")
    if ice.transport_policy not in ("all", "relay"):
        raise ConfigError("LUCARNE_ICE_POLICY must be 'all' or 'relay'")
    for url in (*ice.stun_urls, *ice.turn_urls):
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise ConfigError(f"not an ICE server URL: {url!r}")


def turn_credentials(secret: str, user_ref: str, now: datetime, ttl_s: int) -> tuple[str, str]:
    expiry = int(now.timestamp()) + ttl_s
    username = f"{expiry}:{user_ref.replace(':', '_')[:64]}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_configuration(ice: IceSettings, user_ref: str, now: datetime) -> dict[str, Any]:
    servers: list[dict[str, Any]] = []
    if ice.stun_urls:
        servers.append({"urls": list(ice.stun_urls)})
    if ice.turn_urls:
        validate_ice(ice)
        username, credential = turn_credentials(ice.turn_secret, user_ref, now, ice.turn_ttl_s)
        servers.append({"urls": list(ice.turn_urls), "username": username, "credential": credential})
    return {"iceServers": servers, "iceTransportPolicy": ice.transport_policy}
