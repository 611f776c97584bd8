"""What the practitioner sends the patient: a QR code, SMS and e-mail texts, an iCalendar invitation.

The SMS never names the patient (SMS is not a secure channel); times are shown in Europe/Paris.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import segno

__all__ = ["Invitation", "qr_svg", "sms_text", "email_text", "ics_invite"]

_PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Invitation:
    url: str
    starts_at: datetime
    duration_min: int
    practitioner: str
    language: str
    uid: str

    @property
    def local_start(self) -> str:
        return self.starts_at.astimezone(_PARIS).strftime("%d/%m/%Y %H:%M")


def qr_svg(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, xmldecl=False, border=2)
    return buffer.getvalue()


def sms_text(inv: Invitation) -> str:
    if inv.language == "en":
        return (f"Video consultation with {inv.practitioner} on {inv.local_start} (Paris time). "
                f"Open this link on your phone a few minutes before: {inv.url}")
    return (f"Téléconsultation avec {inv.practitioner} le {inv.local_start}. "
            f"Ouvrez ce lien sur votre téléphone quelques minutes avant : {inv.url}")


def email_text(inv: Invitation) -> tuple[str, str]:
    if inv.language == "en":
        subject = f"Your video consultation with {inv.practitioner}"
        body = (f"Hello,\n\nYour video consultation with {inv.practitioner} is on {inv.local_start} "
                f"(Paris time), for about {inv.duration_min} minutes.\n\nJoin here: {inv.url}\n\n"
                "No account or app is needed: use a phone or a computer with a camera and a recent browser, "
                "in a quiet, private place. Open the link a few minutes early to test your camera and "
                "microphone. The link is personal: do not share it. It stops working after the consultation.\n")
        return subject, body
    subject = f"Votre téléconsultation avec {inv.practitioner}"
    body = (f"Bonjour,\n\nVotre téléconsultation avec {inv.practitioner} aura lieu le {inv.local_start}, "
            f"pour environ {inv.duration_min} minutes.\n\nPour rejoindre : {inv.url}\n\n"
            "Aucun compte ni application n'est nécessaire : utilisez un téléphone ou un ordinateur avec caméra "
            "et un navigateur récent, dans un endroit calme et privé. Ouvrez le lien quelques minutes avant "
            "pour tester caméra et micro. Ce lien est personnel : ne le partagez pas. Il cesse de fonctionner "
            "après la consultation.\n")
    return subject, body


def ics_invite(inv: Invitation) -> bytes:
    title = "Teleconsultation" if inv.language == "en" else "Téléconsultation"
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Lucarne//Teleconsultation//FR")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", inv.uid)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", inv.starts_at.astimezone(UTC))
    event.add("duration", timedelta(minutes=inv.duration_min))
    event.add("summary", f"{title} – {inv.practitioner}")
    event.add("description", email_text(inv)[1])
    event.add("url", inv.url)
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", title)
    alarm.add("trigger", timedelta(minutes=-10))
    event.add_component(alarm)
    calendar.add_component(event)
    return calendar.to_ical()
