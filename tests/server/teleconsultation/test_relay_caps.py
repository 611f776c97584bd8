"""Issue #9 High 4 over the socket relay: relay subscriptions are held to the consultation's and the process's
share of server-side peers with a clear ``rate_limited`` / ``busy`` ack, while a relayed pair's publisher still
finds room (the peers kept for publishers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import LimitSettings
from server.keys import relay_key
from server.platform.db import SessionFactory
from tests.conftest import LiveServer, free_port, make_settings, serve
from tests.server.teleconsultation.test_call_flow import _admitted_pair
from tests.server.teleconsultation.test_relay import Side


@pytest.fixture
async def server_with(db: tuple[AsyncEngine, SessionFactory], database_url: str, test_certs: object,
                      request: pytest.FixtureRequest) -> AsyncIterator[LiveServer]:
    async with serve(make_settings(database_url, free_port(), limits=request.param), test_certs) as server:
        yield server


async def _pair(server: Any) -> tuple[Any, ...]:
    doctor, patient, doc_sock, pat_sock, created, doc_id, pat_id = await _admitted_pair(server)
    await doc_sock.call("enter")
    await pat_sock.call("enter")
    return doctor, patient, doc_sock, pat_sock, doc_id, pat_id


async def _close(doctor: Any, patient: Any, *sides: Side) -> None:
    for side in sides:
        await side.close()
        await side.sock.close()
    await doctor.session.close()
    await patient.session.close()


def _refused(ack: dict[str, Any], code: str) -> None:
    assert ack["ok"] is False and ack["error"] == code, ack
    assert "try again in 10 seconds" in ack["message"], ack


@pytest.mark.parametrize("server_with", [LimitSettings(max_server_peers=3, server_peers_for_publishers=1)],
                         indirect=True)
async def test_subscribers_leave_room_for_publishers_and_the_full_process_is_busy(server_with: Any) -> None:
    doctor, patient, doc_sock, pat_sock, doc_id, pat_id = await _pair(server_with)
    doc, pat = Side(doc_sock), Side(pat_sock)
    registry = server_with.app[relay_key]._peers
    try:
        assert (await doc.publish(pat_id))["ok"]
        assert (await pat.subscribe(doc_id))["ok"]  # 2 peers: the last one is kept for publishers
        assert (await pat.publish(doc_id))["ok"]  # a publisher gets it
        _refused(await doc.subscribe(pat_id), "busy")
        assert len(registry) == 3
    finally:
        await _close(doctor, patient, doc, pat)


@pytest.mark.parametrize("server_with", [LimitSettings(max_viewers_per_case=1)], indirect=True)
async def test_a_consultation_has_a_limited_number_of_relay_subscribers(server_with: Any) -> None:
    doctor, patient, doc_sock, pat_sock, doc_id, pat_id = await _pair(server_with)
    doc, pat = Side(doc_sock), Side(pat_sock)
    try:
        assert (await doc.publish(pat_id))["ok"] and (await pat.publish(doc_id))["ok"]
        assert (await pat.subscribe(doc_id))["ok"]
        _refused(await doc.subscribe(pat_id), "rate_limited")
        assert len(server_with.app[relay_key]) == 3
    finally:
        await _close(doctor, patient, doc, pat)
