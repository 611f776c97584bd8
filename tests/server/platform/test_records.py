"""Encryption at rest, lifecycle rules and the schema, on the real databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from expertise import metadata as expertise_metadata
from server.platform.crypto import Sealer, SealError
from server.platform.errors import Conflict
from server.platform.models import Base, ChatMessage, Consultation
from server.teleconsultation.lifecycle import CONSULTATION, PARTICIPANT, check_transition
from tests.fakes import Browser, make_user, new_consultation


def test_sealed_values_round_trip_and_resist_tampering_and_moving() -> None:
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal_text("Jeanne Dupont", "patient:1")
    assert b"Jeanne" not in sealed
    assert sealer.open_text(sealed, "patient:1") == "Jeanne Dupont"
    with pytest.raises(SealError):
        sealer.open_text(sealed, "patient:2")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealError):
        sealer.open_text(flipped, "patient:1")
    with pytest.raises(SealError):
        Sealer(b"q" * 32).open_text(sealed, "patient:1")


def test_lifecycles_refuse_unlisted_transitions() -> None:
    check_transition(CONSULTATION, "scheduled", "in_progress", "consultation")
    check_transition(PARTICIPANT, "waiting", "admitted", "participant")
    for machine, current, target in ((CONSULTATION, "ended", "in_progress"), (PARTICIPANT, "checking", "admitted"),
                                     (PARTICIPANT, "removed", "waiting")):
        with pytest.raises(Conflict):
            check_transition(machine, current, target, "thing")


async def test_patient_identity_is_stored_encrypted(live_server: Any) -> None:
    from server.keys import db_key

    await make_user(live_server)
    async with Browser(live_server) as doctor:
        await doctor.login()
        await new_consultation(doctor, "Jeanne Confidentielle")
    async with live_server.app[db_key]() as session:
        row = (await session.scalars(select(Consultation))).one()
        assert b"Confidentielle" not in row.patient_enc
        raw = (await session.execute(text("SELECT * FROM consultations"))).all()
        assert "Confidentielle" not in repr(raw)
        assert (await session.scalars(select(ChatMessage))).all() == []


async def test_migrations_match_the_models(db: Any) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine, _ = db

    def diff(connection: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(connection), [Base.metadata, expertise_metadata])

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []
