"""Join tokens: round trip, determinism, tampering, foreign keys, expiry and garbage input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from server.identity.links import LinkClaims, LinkError, LinkExpired, LinkInvalid, LinkSigner, new_jti

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRET = b"s" * 48
CLAIMS = LinkClaims(new_jti(), "b" * 32, "patient", NOW + timedelta(hours=2))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(SECRET)


def test_round_trip_is_deterministic_and_url_safe(signer: LinkSigner) -> None:
    token = signer.issue(CLAIMS)
    assert token == signer.issue(CLAIMS) == LinkSigner(SECRET).issue(CLAIMS)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert signer.verify(token, NOW) == CLAIMS


def test_expiry_is_kept_to_the_second(signer: LinkSigner) -> None:
    claims = LinkClaims("j" * 32, "c" * 32, "guest", NOW + timedelta(minutes=5, microseconds=999_999))
    assert signer.verify(signer.issue(claims), NOW).expires_at == NOW + timedelta(minutes=5)


def test_mac_is_at_least_16_bytes(signer: LinkSigner) -> None:
    assert len(unb64(signer.issue(CLAIMS).split(".")[1])) >= 16


def test_tampered_payload_is_invalid(signer: LinkSigner) -> None:
    payload, mac = signer.issue(CLAIMS).split(".")
    raw = bytearray(unb64(payload))
    raw[-1] ^= 0x01  # expiry one second different
    with pytest.raises(LinkInvalid):
        signer.verify(f"{b64(bytes(raw))}.{mac}", NOW)


def test_tampered_signature_is_invalid(signer: LinkSigner) -> None:
    payload, mac = signer.issue(CLAIMS).split(".")
    raw = bytearray(unb64(mac))
    raw[0] ^= 0x80
    for bad_mac in (b64(bytes(raw)), b64(unb64(mac)[:-1]), ""):
        with pytest.raises(LinkInvalid):
            signer.verify(f"{payload}.{bad_mac}", NOW)


def test_swapping_the_consultation_id_is_invalid(signer: LinkSigner) -> None:
    _, mac = signer.issue(CLAIMS).split(".")
    swapped = b64(f"{CLAIMS.jti}|{'c' * 32}|patient|{int(CLAIMS.expires_at.timestamp())}".encode())
    with pytest.raises(LinkInvalid):
        signer.verify(f"{swapped}.{mac}", NOW)


def test_raising_the_role_is_invalid(signer: LinkSigner) -> None:
    guest = signer.issue(LinkClaims(CLAIMS.jti, CLAIMS.consultation_id, "guest", CLAIMS.expires_at))
    patient_payload = signer.issue(CLAIMS).split(".")[0]
    with pytest.raises(LinkInvalid):
        signer.verify(f"{patient_payload}.{guest.split('.')[1]}", NOW)


def test_token_from_another_secret_is_invalid(signer: LinkSigner) -> None:
    with pytest.raises(LinkInvalid) as refused:
        signer.verify(LinkSigner(b"t" * 48).issue(CLAIMS), NOW)
    assert refused.value.code == "invalid"


def test_expired_token_is_reported_as_expired(signer: LinkSigner) -> None:
    token = signer.issue(CLAIMS)
    assert signer.verify(token, CLAIMS.expires_at - timedelta(seconds=1)) == CLAIMS
    for later in (CLAIMS.expires_at, CLAIMS.expires_at + timedelta(days=1)):
        with pytest.raises(LinkExpired) as refused:
            signer.verify(token, later)
        assert refused.value.code == "expired"


def test_forged_expired_token_is_invalid_not_expired(signer: LinkSigner) -> None:
    payload, _ = signer.issue(CLAIMS).split(".")
    with pytest.raises(LinkInvalid):
        signer.verify(f"{payload}.{'A' * 27}", CLAIMS.expires_at + timedelta(days=1))


@pytest.mark.parametrize("token", [
    "", ".", "no-dot", "a.b.c", "é.é", "%%%.%%%", "a b.c d", "====.====", "x" * 600, "A" * 300 + "." + "A" * 300,
    "AAAA.AAAA", "\x00.\x00", "QUJD.QUJD\n",
])
def test_garbage_tokens_are_invalid(signer: LinkSigner, token: str) -> None:
    with pytest.raises(LinkInvalid):
        signer.verify(token, NOW)


def test_non_canonical_base64_spelling_is_refused(signer: LinkSigner) -> None:
    payload, mac = signer.issue(CLAIMS).split(".")
    # 20 MAC bytes leave two unused bits in the last base64url character; setting one decodes to the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = mac[:-1] + alphabet[alphabet.index(mac[-1]) ^ 0b01]
    assert unb64(twin) == unb64(mac)
    with pytest.raises(LinkInvalid):
        signer.verify(f"{payload}.{twin}", NOW)


def test_oversized_token_is_refused_before_decoding(signer: LinkSigner) -> None:
    token = signer.issue(LinkClaims("j" * 32, "c" * 350, "patient", CLAIMS.expires_at))
    assert len(token) > 512
    with pytest.raises(LinkInvalid):
        signer.verify(token, NOW)


@pytest.mark.parametrize("claims", [
    LinkClaims("a" * 32, "b" * 32, "admin", NOW),
    LinkClaims("a" * 32, "b|c", "patient", NOW),
    LinkClaims("", "b" * 32, "patient", NOW),
    LinkClaims("a" * 32, "b" * 32, "patient", datetime(2030, 1, 1)),
])
def test_bad_claims_cannot_be_issued(signer: LinkSigner, claims: LinkClaims) -> None:
    with pytest.raises(ValueError):
        signer.issue(claims)


def test_errors_share_a_root_with_a_code() -> None:
    assert issubclass(LinkInvalid, LinkError) and issubclass(LinkExpired, LinkError)
    assert issubclass(LinkError, ValueError)
    assert (LinkInvalid.code, LinkExpired.code) == ("invalid", "expired")


def test_new_jti_is_random_hex() -> None:
    first, second = new_jti(), new_jti()
    assert first != second and len(first) == 32 and int(first, 16) >= 0
