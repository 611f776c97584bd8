"""Signed, expiring join tokens. The database keeps one row per token id for revocation and single exchange.

Token: ``base64url(jti|consultation|role|expiry) "." base64url(HMAC-SHA256(key, "lucarne-join-v1" + payload)[:20])``.
Deterministic for the same claims, so the server can show a link's URL again without storing the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["LinkClaims", "LinkSigner", "LinkError", "LinkInvalid", "LinkExpired", "new_jti", "ROLES"]

ROLES = ("patient", "guest", "caller")
_DOMAIN = b"lucarne-join-v1"
_MAC_BYTES = 20
_MAX_TOKEN = 512


class LinkError(ValueError):
    code = "invalid"


class LinkInvalid(LinkError):
    code = "invalid"


class LinkExpired(LinkError):
    code = "expired"


@dataclass(frozen=True)
class LinkClaims:
    jti: str
    consultation_id: str
    role: str
    expires_at: datetime


def new_jti() -> str:
    return secrets.token_hex(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"join-links:" + secret).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _DOMAIN + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, claims: LinkClaims) -> str:
        if claims.role not in ROLES:
            raise ValueError(f"unknown role {claims.role!r}")
        expiry = int(claims.expires_at.timestamp())
        payload = f"{claims.jti}|{claims.consultation_id}|{claims.role}|{expiry}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, now: datetime) -> LinkClaims:
        """The claims of a genuine, unexpired token; :class:`LinkInvalid` or :class:`LinkExpired` otherwise."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN or not token.isascii() or token.count(".") != 1:
            raise LinkInvalid("malformed token")
        encoded_payload, encoded_mac = token.split(".")
        try:
            payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        except (binascii.Error, ValueError) as exc:
            raise LinkInvalid("malformed token") from exc
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise LinkInvalid("bad signature")
        parts = payload.decode("ascii", "replace").split("|")
        if len(parts) != 4 or parts[2] not in ROLES or not parts[3].isdigit():
            raise LinkInvalid("malformed claims")
        claims = LinkClaims(parts[0], parts[1], parts[2], datetime.fromtimestamp(int(parts[3]), UTC))
        if claims.expires_at <= now:
            raise LinkExpired("link expired")
        return claims
