"""Join tokens, invitation texts and files, and TURN credentials (pure functions, no server)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from server.config import ConfigError, IceSettings
from server.identity.links import LinkClaims, LinkExpired, LinkInvalid, LinkSigner
from server.platform.turn import ice_configuration, validate_ice
from server.teleconsultation.invites import Invitation, email_text, ics_invite, qr_svg, sms_text

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CLAIMS = LinkClaims("a" * 32, "b" * 32, "patient", NOW + timedelta(hours=2))


def test_token_round_trip_is_deterministic() -> None:
    signer = LinkSigner(b"s" * 48)
    token = signer.issue(CLAIMS)
    assert token == signer.issue(CLAIMS)
    assert signer.verify(token, NOW) == LinkClaims(CLAIMS.jti, CLAIMS.consultation_id, "patient",
                                                   CLAIMS.expires_at.replace(microsecond=0))


def test_tampered_swapped_foreign_and_garbage_tokens_are_invalid() -> None:
    signer = LinkSigner(b"s" * 48)
    token = signer.issue(CLAIMS)
    payload, mac = token.split(".")
    other = signer.issue(LinkClaims("a" * 32, "c" * 32, "patient", CLAIMS.expires_at))
    forged = [
        payload[:-2] + ("AA" if not payload.endswith("AA") else "BB") + "." + mac,
        other.split(".")[0] + "." + mac,  # another consultation under this signature
        LinkSigner(b"t" * 48).issue(CLAIMS),
        "x" * 600, "", "no-dot", "a.b.c", "é.é", "%%%.%%%",
    ]
    for bad in forged:
        with pytest.raises(LinkInvalid):
            signer.verify(bad, NOW)


def test_expired_token_is_reported_as_expired() -> None:
    signer = LinkSigner(b"s" * 48)
    with pytest.raises(LinkExpired):
        signer.verify(signer.issue(CLAIMS), NOW + timedelta(hours=3))


def test_unknown_role_cannot_be_issued() -> None:
    with pytest.raises(ValueError):
        LinkSigner(b"s" * 48).issue(LinkClaims("a" * 32, "b" * 32, "admin", NOW))


INVITE_FR = Invitation("https://lucarne.example/j/tok", datetime(2030, 1, 15, 9, 30, tzinfo=UTC), 20, "Dr Martin",
                       "fr", "jti@lucarne")


def test_sms_is_short_local_time_and_never_names_the_patient() -> None:
    text = sms_text(INVITE_FR)
    assert len(text) <= 320 and INVITE_FR.url in text and "10:30" in text  # 09:30 UTC = 10:30 Paris (winter)
    english = sms_text(Invitation(**{**INVITE_FR.__dict__, "language": "en"}))
    assert english.startswith("Video consultation")


def test_email_explains_how_to_prepare() -> None:
    subject, body = email_text(INVITE_FR)
    assert "Dr Martin" in subject and INVITE_FR.url in body and "compte" in body


def test_ics_parses_back_with_utc_start_url_and_alarm() -> None:
    calendar = icalendar.Calendar.from_ical(ics_invite(INVITE_FR))
    event = next(component for component in calendar.walk("VEVENT"))
    assert event.decoded("dtstart") == INVITE_FR.starts_at
    assert str(event["url"]) == INVITE_FR.url
    assert event.decoded("duration") == timedelta(minutes=20)
    assert any(component.name == "VALARM" for component in event.subcomponents)


def test_qr_code_is_svg() -> None:
    root = ET.fromstring(qr_svg(INVITE_FR.url))
    assert root.tag.endswith("svg") and int(root.attrib["width"]) > 50


def test_turn_credentials_follow_the_coturn_rest_scheme() -> None:
    ice = IceSettings(stun_urls=("stun:turn.example:3478",), turn_urls=("turns:turn.example:443?transport=tcp",),
                      turn_secret="shared", turn_ttl_s=600, transport_policy="relay")
    config = ice_configuration(ice, "part:1", NOW)
    stun, turn = config["iceServers"]
    assert stun == {"urls": ["stun:turn.example:3478"]}
    expiry = int(NOW.timestamp()) + 600
    assert turn["username"] == f"{expiry}:part_1"
    expected = base64.b64encode(hmac.new(b"shared", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    assert config["iceTransportPolicy"] == "relay"


def test_no_ice_server_by_default_and_bad_ice_config_is_refused() -> None:
    assert ice_configuration(IceSettings(), "p", NOW) == {"iceServers": [], "iceTransportPolicy": "all"}
    for bad in (IceSettings(turn_urls=("turn:x",)), IceSettings(transport_policy="p2p"),
                IceSettings(stun_urls=("http://x",))):
        with pytest.raises(ConfigError):
            validate_ice(bad)
