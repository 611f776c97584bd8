"""What the practitioner sends the patient: a QR code, SMS and e-mail texts, an iCalendar invitation.

The SMS never names the patient (SMS is not a secure channel); times are shown in Europe/Paris. Day and month
names come from small tables rather than ``strftime`` so the output does not depend on the server's locale.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import icalendar
import segno

from ..platform.clock import utcnow

__all__ = ["Invitation", "LANGUAGES", "SMS_MAX_CHARS", "qr_svg", "sms_text", "email_text", "ics_invite",
           "spell_moment"]

LANGUAGES = ("fr", "en")
SMS_MAX_CHARS = 320
_PARIS = ZoneInfo("Europe/Paris")
_PRODID = "-//Lucarne//Teleconsultation//FR"
_ALARM_BEFORE = timedelta(minutes=10)
_DAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


@dataclass(frozen=True)
class Invitation:
    """One join link as the patient receives it. ``expires_at`` (optional) is the link's own expiry."""

    url: str
    starts_at: datetime
    duration_min: int
    practitioner: str
    language: str
    uid: str
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}")
        if self.starts_at.tzinfo is None or (self.expires_at is not None and self.expires_at.tzinfo is None):
            raise ValueError("invitation times must be timezone-aware")
        if self.duration_min <= 0:
            raise ValueError("duration_min must be positive")

    @property
    def local_start(self) -> str:
        """Start date and time in Europe/Paris, spelled out in the invitation's language."""
        return _spell(self.starts_at, self.language)

    @property
    def title(self) -> str:
        """Calendar title, e.g. ``Téléconsultation – Dr Martin``."""
        word = "Teleconsultation" if self.language == "en" else "Téléconsultation"
        return f"{word} – {self.practitioner}"


def _spell(moment: datetime, language: str) -> str:
    local = moment.astimezone(_PARIS)
    day, month = _DAYS[language][local.weekday()], _MONTHS[language][local.month - 1]
    joiner = "at" if language == "en" else "à"
    return f"{day} {local.day} {month} {local.year} {joiner} {local:%H:%M}"


def spell_moment(moment: datetime, language: str) -> str:
    """``mardi 15 janvier 2030 à 10:30`` / ``Tuesday 15 January 2030 at 10:30``, in Europe/Paris."""
    return _spell(moment, language if language in LANGUAGES else "fr")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def qr_svg(url: str) -> bytes:
    """An SVG QR code (error correction level M or better) for ``url``."""
    buffer = io.BytesIO()
    # make_qr, not make: a short URL would otherwise become a Micro QR code, which most phone cameras cannot read.
    segno.make_qr(url, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    return buffer.getvalue()


def sms_text(inv: Invitation) -> str:
    """A short SMS (at most :data:`SMS_MAX_CHARS` characters) with the date, practitioner and link, no patient name."""
    text = _sms(inv, inv.practitioner)
    if len(text) > SMS_MAX_CHARS:
        # Only the practitioner's name is variable besides the URL; shorten it rather than the link.
        room = max(len(inv.practitioner) - (len(text) - SMS_MAX_CHARS), 1)
        text = _sms(inv, _clip(inv.practitioner, room))
    if len(text) > SMS_MAX_CHARS:
        raise ValueError("link URL too long for an SMS")
    return text


def _sms(inv: Invitation, practitioner: str) -> str:
    when = inv.local_start
    if inv.language == "en":
        return (f"Video consultation with {practitioner} on {when} (Paris time). "
                f"Open this link a few minutes before: {inv.url}")
    return f"Téléconsultation avec {practitioner} le {when}. Ouvrez ce lien quelques minutes avant : {inv.url}"


def email_text(inv: Invitation) -> tuple[str, str]:
    """E-mail ``(subject, body)``: when, the link, how to prepare, and that the link is personal and expires."""
    if inv.language == "en":
        return _email_en(inv)
    return _email_fr(inv)


def _email_en(inv: Invitation) -> tuple[str, str]:
    expiry = (f"It is valid until {_spell(inv.expires_at, 'en')} (Paris time)" if inv.expires_at
              else "It stops working after the consultation")
    subject = f"Your video consultation with {inv.practitioner}"
    body = (f"Hello,\n\nYour video consultation with {inv.practitioner} is on {inv.local_start} (Paris time), "
            f"for about {inv.duration_min} minutes.\n\nJoin here: {inv.url}\n\n"
            "How to prepare:\n"
            "- a phone, tablet or computer with a camera and microphone;\n"
            "- a recent web browser (Chrome, Firefox, Safari or Edge);\n"
            "- a quiet, private, well-lit place.\n\n"
            "No account and no app are needed. Open the link a few minutes early to test your camera and "
            f"microphone.\n\nThis link is personal: do not share it. {expiry}.\n")
    return subject, body


def _email_fr(inv: Invitation) -> tuple[str, str]:
    expiry = (f"Il est valable jusqu'au {_spell(inv.expires_at, 'fr')}" if inv.expires_at
              else "Il cesse de fonctionner après la consultation")
    subject = f"Votre téléconsultation avec {inv.practitioner}"
    body = (f"Bonjour,\n\nVotre téléconsultation avec {inv.practitioner} aura lieu le {inv.local_start}, "
            f"pour environ {inv.duration_min} minutes.\n\nPour rejoindre : {inv.url}\n\n"
            "Pour vous préparer :\n"
            "- un téléphone, une tablette ou un ordinateur avec caméra et micro ;\n"
            "- un navigateur récent (Chrome, Firefox, Safari ou Edge) ;\n"
            "- un endroit calme, privé et bien éclairé.\n\n"
            "Aucun compte ni application n'est nécessaire. Ouvrez le lien quelques minutes avant pour tester "
            f"caméra et micro.\n\nCe lien est personnel : ne le partagez pas. {expiry}.\n")
    return subject, body


def ics_invite(inv: Invitation, now: datetime | None = None) -> bytes:
    """An iCalendar (``METHOD:PUBLISH``) event for the consultation, with a reminder 10 minutes before.

    ``now`` sets DTSTAMP (defaults to the current time), which makes the output reproducible in tests.
    """
    calendar = icalendar.Calendar()
    calendar.add("prodid", _PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(_event(inv, (now or utcnow()).astimezone(UTC)))
    # icalendar 7 leaves Component.to_ical unannotated; it always returns the encoded bytes.
    return cast(bytes, calendar.to_ical())


def _event(inv: Invitation, stamp: datetime) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", inv.uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", inv.starts_at.astimezone(UTC))
    event.add("duration", timedelta(minutes=inv.duration_min))
    event.add("summary", inv.title)
    event.add("description", email_text(inv)[1])
    event.add("location", inv.url)
    event.add("url", inv.url)
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", inv.title)
    alarm.add("trigger", -_ALARM_BEFORE)
    event.add_component(alarm)
    return event
