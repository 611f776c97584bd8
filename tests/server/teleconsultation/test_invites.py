"""Invitation QR code, SMS and e-mail texts, and the iCalendar file."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import segno

from server.identity.links import LinkClaims, LinkSigner, new_jti
from server.teleconsultation.invites import Invitation, email_text, ics_invite, qr_svg, sms_text

SVG_NS = "{http://www.w3.org/2000/svg}"
START = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)  # 10:30 in Paris (winter time)
TOKEN = LinkSigner(b"s" * 48).issue(LinkClaims(new_jti(), "b" * 32, "patient", START + timedelta(days=1)))
URL = f"https://teleconsultation.hopital-exemple.fr/j/{TOKEN}"
INVITE = Invitation(URL, START, 20, "Dr Martin", "fr", "jti@lucarne")
INVITE_EN = dataclasses.replace(INVITE, language="en")


def svg_matrix(svg: bytes) -> tuple[list[list[bool]], int]:
    """Dark modules drawn by segno's single-path SVG (runs of ``h`` strokes), and the drawn scale."""
    root = ET.fromstring(svg)
    path = root.find(f"{SVG_NS}path")
    assert path is not None
    scale = int(re.fullmatch(r"scale\((\d+)\)", path.attrib["transform"]).group(1))
    size = int(root.attrib["width"]) // scale
    matrix = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, *args in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.attrib["d"]):
        if command == "M":
            x, y = float(args[0]), float(args[1])
        elif command == "m":
            x, y = x + float(args[0]), y + float(args[1])
        else:
            for column in range(int(x), int(x + float(args[0]))):
                matrix[int(y)][column] = True
            x += float(args[0])
    return matrix, scale


def test_qr_is_valid_svg_rendering_the_regular_qr_code_for_the_url() -> None:
    drawn, scale = svg_matrix(qr_svg(URL))
    expected = segno.make_qr(URL, error="m")
    border = 2
    assert scale == 4 and expected.error in ("M", "Q", "H")
    inner = [row[border:-border] for row in drawn[border:-border]]
    assert inner == [[bool(module) for module in row] for row in expected.matrix]
    assert not any(drawn[0]) and not any(row[0] for row in drawn)  # quiet zone


def test_qr_for_a_short_url_is_not_a_micro_qr() -> None:
    drawn, _ = svg_matrix(qr_svg("https://a.b"))
    assert len(drawn) - 4 >= 21  # micro QR symbols are at most 17 modules wide
    assert not qr_svg(URL).lstrip().startswith(b"<?xml")


def test_sms_is_short_french_with_paris_time_and_no_patient_name() -> None:
    text = sms_text(INVITE)
    assert len(text) <= 320
    assert text.startswith("Téléconsultation avec Dr Martin")
    assert "mardi 15 janvier 2030 à 10:30" in text and URL in text


def test_sms_in_english() -> None:
    text = sms_text(INVITE_EN)
    assert len(text) <= 320 and text.startswith("Video consultation with Dr Martin")
    assert "Tuesday 15 January 2030 at 10:30 (Paris time)" in text and URL in text


def test_sms_follows_summer_time() -> None:
    assert "à 11:30" in sms_text(dataclasses.replace(INVITE, starts_at=datetime(2030, 7, 1, 9, 30, tzinfo=UTC)))


def test_sms_stays_short_with_a_long_practitioner_name_and_keeps_the_url() -> None:
    for invite in (INVITE, INVITE_EN):
        text = sms_text(dataclasses.replace(invite, practitioner="Dr " + "Longuenom-" * 12))
        assert len(text) <= 320 and text.endswith(URL) and "…" in text


def test_email_explains_how_to_prepare_in_french() -> None:
    subject, body = email_text(INVITE)
    assert "Dr Martin" in subject and URL in body
    for phrase in ("téléphone", "ordinateur", "caméra", "navigateur", "calme", "Aucun compte ni application",
                   "ne le partagez pas", "10:30"):
        assert phrase in body


def test_email_in_english_mentions_link_expiry() -> None:
    subject, body = email_text(dataclasses.replace(INVITE_EN, expires_at=START + timedelta(days=1)))
    assert subject == "Your video consultation with Dr Martin" and URL in body
    for phrase in ("phone", "computer", "camera", "browser", "quiet", "No account and no app",
                   "valid until Wednesday 16 January 2030 at 10:30"):
        assert phrase in body


def test_ics_parses_back_with_utc_start_url_and_alarm() -> None:
    stamp = datetime(2029, 12, 1, 8, 0, tzinfo=UTC)
    data = ics_invite(INVITE, now=stamp)
    assert data == ics_invite(INVITE, now=stamp)
    calendar = icalendar.Calendar.from_ical(data)
    assert str(calendar["version"]) == "2.0" and str(calendar["method"]) == "PUBLISH" and "Lucarne" in calendar["prodid"]
    [event] = calendar.walk("VEVENT")
    assert str(event["uid"]) == "jti@lucarne"
    assert event.decoded("dtstart") == START and event.decoded("dtstart").tzinfo is not None
    assert b"DTSTART:20300115T093000Z" in data
    assert event.decoded("dtstamp") == stamp
    assert event.decoded("duration") == timedelta(minutes=20)
    assert str(event["summary"]) == "Téléconsultation – Dr Martin"
    assert str(event["url"]) == URL and URL in str(event["description"])
    [alarm] = event.walk("VALARM")
    assert str(alarm["action"]) == "DISPLAY" and alarm.decoded("trigger") == timedelta(minutes=-10)


def test_ics_in_english_stores_a_paris_start_in_utc() -> None:
    paris_start = START.astimezone(ZoneInfo("Europe/Paris"))
    data = ics_invite(dataclasses.replace(INVITE_EN, starts_at=paris_start))
    [event] = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(event["summary"]) == "Teleconsultation – Dr Martin" and event.decoded("dtstart") == START
    assert b"DTSTART:20300115T093000Z" in data and b"VTIMEZONE" not in data


@pytest.mark.parametrize("change", [{"language": "de"}, {"starts_at": datetime(2030, 1, 15, 9, 30)},
                                    {"duration_min": 0}])
def test_bad_invitations_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(INVITE, **change)
