"""Helpers for the request tests: the real service on a real database, with a fake directory (a boundary)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from expertise import Actor, DeadlinePolicy, ExpertiseService, Notice
from server.expertise.wiring import ExpertiseAudit, patient_key_function
from server.platform.audit import AuditLog
from server.platform.blobs import BlobStore
from server.platform.clock import ManualClock
from server.platform.crypto import Sealer

GP = Actor(user_id="a" * 32, role="practitioner", rpps="10000000001", profession="medecin")
NURSE = Actor(user_id="b" * 32, role="practitioner", rpps="10000000002", profession="infirmier")


def expert(rpps: str) -> Actor:
    return Actor(user_id=f"{int(rpps):032x}", role="specialist", rpps=rpps, profession="medecin")


@dataclass(frozen=True)
class Candidate:
    """The shape of ``expertise.Candidate`` (directory contract)."""

    rpps: str
    name: str
    specialty: str
    commune: str | None
    departement: str | None
    proximity: int
    capacity: int
    languages: tuple[str, ...]


@dataclass
class FakeDirectory:
    """An in-memory directory: returns the listed professionals of a specialty, nearest first."""

    people: list[Candidate] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def add(self, rpps: str, proximity: int, *, specialty: str = "dermatologie", capacity: int = 5,
            languages: tuple[str, ...] = ("fr",)) -> None:
        self.people.append(Candidate(rpps, f"Dr {rpps}", specialty, None, None, proximity, capacity, languages))

    async def candidates(self, specialty: str, commune: str | None, at: datetime, *, language: str | None = None,
                         exclude: Collection[str] = (), limit: int = 50) -> list[Candidate]:
        self.calls.append({"specialty": specialty, "commune": commune, "exclude": set(exclude)})
        found = [c for c in self.people if c.specialty == specialty and c.rpps not in exclude]
        return sorted(found, key=lambda c: c.proximity)[:limit]


@dataclass
class RecordingNotifier:
    notices: list[Notice] = field(default_factory=list)

    async def notify(self, notice: Notice) -> None:
        self.notices.append(notice)


@dataclass
class Harness:
    service: ExpertiseService
    clock: ManualClock
    directory: FakeDirectory
    notifier: RecordingNotifier
    sessions: Any
    audit: AuditLog
    blob_root: Path


def request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "specialty": "dermatologie", "urgency": "routine", "commune": "75056", "language": "fr",
        "question": "Lésion pigmentée du dos évolutive : exérèse ?", "context": "Homme 54 ans, phototype II.",
        "patient": {"family_name": "Durand", "given_names": "Paul", "birth_date": "1971-03-02", "sex": "M",
                    "identity_status": "qualifiee", "ins": "171037512345678"},
        "consent": {"obtained": True, "method": "oral"},
    }
    body.update(overrides)
    return body


def build(sessions: Any, tmp_path: Path, *, policy: DeadlinePolicy | None = None,
          node: str = "test", directory: Any = None, load_ttl: float = 0.0) -> Harness:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    directory, notifier = directory if directory is not None else FakeDirectory(), RecordingNotifier()
    audit = AuditLog(sessions, clock)
    sealer = Sealer(secrets.token_bytes(32))
    service = ExpertiseService(sessions, clock, directory, sealer, BlobStore(tmp_path / "blobs", sealer),
                               ExpertiseAudit(audit), notifier, patient_key_function(secrets.token_bytes(32)),
                               policy, node, load_ttl=load_ttl)
    return Harness(service, clock, directory, notifier, sessions, audit, tmp_path / "blobs")


@pytest.fixture
async def harness(db: Any, tmp_path: Path) -> AsyncIterator[Harness]:
    _, sessions = db
    yield build(sessions, tmp_path)


# -- the real directory and accounts linked to it --------------------------------------------------------------
DERM = "SM16"


async def seed_professional(sessions: Any, rpps: str, *, commune: str = "69123", departement: str = "69",
                            specialty: str = DERM, profession_code: str = "10", accepts: bool = True,
                            capacity: int = 3, languages: tuple[str, ...] = ("fr",)) -> None:
    """One directory entry (and an expertise profile when ``accepts``), as the directory import would write."""
    from expertise.models import Activity, Professional, Profile, ProfileLanguage, ProfileSpecialty
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with sessions.begin() as session:
        session.add(Professional(rpps=rpps, national_id="8" + rpps, civility_code="DR", civility="Docteur",
                                 family_name=f"Nom{rpps[-2:]}", given_name="Ana", source="rpps", row_hash="x",
                                 updated_at=now))
        await session.flush()
        session.add(Activity(rpps=rpps, position=0, profession_code=profession_code, specialty_code=specialty,
                             commune=commune, departement=departement, postal_code=None))
        if accepts:
            session.add(Profile(rpps=rpps, capacity=capacity, updated_at=now))
            await session.flush()
            session.add(ProfileSpecialty(rpps=rpps, specialty=specialty))
            session.add_all([ProfileLanguage(rpps=rpps, language=lang) for lang in languages])


def http_body(**overrides: Any) -> dict[str, Any]:
    return request_body(**{"specialty": DERM, "commune": "69123", **overrides})


def _png() -> bytes:
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 120, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_pdf(subject: str = "") -> bytes:
    """A real one-page PDF written by pypdf (``subject`` pads it: a 3 MB subject makes a 3 MB file)."""
    import io

    from pypdf import PdfWriter
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    if subject:
        writer.add_metadata({"/Subject": subject})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


PNG_1x1 = _png()
PDF_MIN = make_pdf()


async def login_page(page: Any, url: str, username: str) -> None:
    """Log a Playwright page in through the real login form (the browser tests' accounts share one password)."""
    await page.goto(f"{url}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", "correct horse battery")
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda address: not address.endswith("/login"))  # the role's home
