"""Signed, expiring join tokens. The database keeps one row per token id for revocation and single exchange.

Token: ``base64url(jti|consultation|role|expiry) "." base64url(HMAC-SHA256(key, "lucarne-join-v1" + payload)[:20])``,
base64url without padding. Issuing is deterministic for the same claims, so the server can show a link's URL
again from its database row without storing the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["LinkClaims", "LinkSigner", "LinkError", "LinkInvalid", "LinkExpired", "new_jti", "ROLES", "MAX_TOKEN_CHARS"]

# "caller" is the regulation (emergency) link; "patient" and "guest" join consultations.
ROLES = ("patient", "guest", "caller")
MAX_TOKEN_CHARS = 512
_DOMAIN = b"lucarne-join-v1"
_MAC_BYTES = 20
_SEPARATOR = "|"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class LinkError(ValueError):
    """A join token was refused; ``code`` is the stable reason shown to users and written to the audit log."""

    code = "invalid"


class LinkInvalid(LinkError):
    """Malformed, forged or tampered token."""

    code = "invalid"


class LinkExpired(LinkError):
    """Genuine token whose expiry has passed."""

    code = "expired"


@dataclass(frozen=True)
class LinkClaims:
    """What a token vouches for. ``expires_at`` is timezone-aware and carried at one-second precision."""

    jti: str
    consultation_id: str
    role: str
    expires_at: datetime


def new_jti() -> str:
    """A fresh, unguessable token id (128 bits, hex)."""
    return secrets.token_hex(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    # The lenient stdlib decoder skips stray characters, so check the alphabet first, and insist on the
    # canonical encoding so that each token has exactly one spelling.
    if not _B64URL.fullmatch(text):
        raise LinkInvalid("malformed token")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise LinkInvalid("malformed token") from exc
    if _b64(data) != text:
        raise LinkInvalid("malformed token")
    return data


def _encode_claims(claims: LinkClaims) -> bytes:
    if claims.role not in ROLES:
        raise ValueError(f"unknown role {claims.role!r}")
    if claims.expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    for value in (claims.jti, claims.consultation_id):
        if not value or not value.isascii() or _SEPARATOR in value:
            raise ValueError(f"ids must be non-empty ASCII without {_SEPARATOR!r}: {value!r}")
    expiry = int(claims.expires_at.timestamp())
    return _SEPARATOR.join((claims.jti, claims.consultation_id, claims.role, str(expiry))).encode("ascii")


def _decode_claims(payload: bytes) -> LinkClaims:
    parts = payload.decode("ascii", "replace").split(_SEPARATOR)
    if len(parts) != 4 or parts[2] not in ROLES or not parts[3].isascii() or not parts[3].isdigit():
        raise LinkInvalid("malformed claims")
    jti, consultation_id, role, expiry = parts
    try:
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise LinkInvalid("malformed claims") from exc
    return LinkClaims(jti, consultation_id, role, expires_at)


class LinkSigner:
    """Issues and verifies join tokens with a key derived from the server secret."""

    def __init__(self, secret: bytes) -> None:
        # The server secret also signs other things; a derived key keeps join tokens in their own namespace.
        self._key = hashlib.sha256(b"join-links:" + secret).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _DOMAIN + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, claims: LinkClaims) -> str:
        """The URL-safe token for ``claims``; :class:`ValueError` for an unknown role, naive expiry or bad ids."""
        payload = _encode_claims(claims)
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, now: datetime) -> LinkClaims:
        """The claims of a genuine, unexpired token; :class:`LinkInvalid` or :class:`LinkExpired` otherwise."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 1:
            raise LinkInvalid("malformed token")
        encoded_payload, encoded_mac = token.split(".")
        payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise LinkInvalid("bad signature")
        claims = _decode_claims(payload)
        if claims.expires_at <= now:
            raise LinkExpired("link expired")
        return claims
