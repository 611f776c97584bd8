"""Catalogue §4b 3: PostgreSQL restarts during a chat, a status change and an upload.

A private PostgreSQL (initdb + pg_ctl in a temporary directory, never the machine's) is stopped under a running
server: every "saved" the users saw was committed; writes during the outage get a clear 503 (socket: an
``unavailable`` acknowledgement), never a 500 or ``internal``; once the database is back the server serves again
(the pool checks connections before use) and nothing is duplicated.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from server.platform.db import open_database
from server.platform.migrate import upgrade
from server.platform.models import Capture, ChatMessage, Consultation
from tests.conftest import LiveServer, free_port, make_settings, serve
from tests.fakes import Browser, SocketPeer, join_as_patient, make_user, new_consultation, open_link
from tests.private_services import PrivatePostgres, postgres_binaries
from tests.server.platform.test_audit_routes import _caller_csrf


@pytest.fixture
async def restartable(test_certs: Any) -> AsyncIterator[tuple[LiveServer, PrivatePostgres]]:
    database = PrivatePostgres(postgres_binaries()).init()
    try:
        async with open_database(database.url) as (engine, _):
            await upgrade(engine)
        async with serve(make_settings(database.url, free_port()), test_certs) as server:
            try:
                yield server, database
            finally:
                if not _running(database):
                    database.start()  # the app's shutdown needs its database
    finally:
        database.destroy()


def _running(database: PrivatePostgres) -> bool:
    return (database.root / "data" / "postmaster.pid").exists()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def _count(database: PrivatePostgres, model: Any) -> int:
    async with open_database(database.url) as (_, sessions):
        async with sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_database_restart_loses_no_saved_write_and_answers_503_meanwhile(restartable: Any) -> None:
    server, database = restartable
    await make_user(server)
    await make_user(server, "regul", "regulator")
    doctor, regulator, caller = Browser(server), Browser(server), Browser(server)
    sockets: list[SocketPeer] = []
    try:
        assert (await doctor.login()).status == 303 and (await regulator.login("regul")).status == 303
        created = await new_consultation(doctor)
        cid = created["consultation"]["id"]
        patient = await join_as_patient(server, created["link"]["url"])
        doc, pat = await SocketPeer.connect(doctor), await SocketPeer.connect(patient)
        sockets += [doc, pat]
        await doc.call("join", {"consultation": cid})
        me = (await pat.call("join", {}))["me"]
        await pat.call("ready")
        assert (await doc.call("admit", {"participant": me}))["ok"]
        case = await (await regulator.api("POST", "/api/cases", json={
            "case_number": "SAMU-1", "caller_phone": "+33 6 00 00 00 00", "reason": "Malaise"})).json()
        assert (await open_link(caller, case["link"]["url"])).status == 303
        caller.csrf = await _caller_csrf(caller)

        async def upload() -> Any:
            return await caller.api("POST", "/api/caller/stills", data=_jpeg(), headers={"Content-Type": "image/jpeg"})

        # Saved before the restart.
        assert (await pat.call("chat", {"text": "avant"}))["ok"]
        assert (await doctor.api("PUT", f"/api/consultations/{cid}/report", json={"report": "v1"})).status == 200
        assert (await upload()).status == 201

        database.stop()
        report = await doctor.api("PUT", f"/api/consultations/{cid}/report", json={"report": "pendant"})
        assert report.status == 503 and (await report.json())["error"] == "unavailable"
        assert report.headers.get("Retry-After")
        still = await upload()
        assert still.status == 503 and (await still.json())["error"] == "unavailable"
        ended = await doctor.api("POST", f"/api/consultations/{cid}/end", json={})
        assert ended.status == 503
        chat = await pat.call("chat", {"text": "pendant"})
        assert chat["ok"] is False and chat["error"] == "unavailable", chat
        assert (await doctor.session.get("/readyz")).status == 503

        database.start()
        assert (await doctor.session.get("/readyz")).status == 200
        assert (await pat.call("chat", {"text": "après"}))["ok"]
        assert (await upload()).status == 201
        assert (await doctor.api("PUT", f"/api/consultations/{cid}/report", json={"report": "v2"})).status == 200
        assert (await doctor.api("POST", f"/api/consultations/{cid}/end", json={})).status == 200
        history = await (await doctor.api("GET", f"/api/consultations/{cid}/chat")).json()
        assert [m["text"] for m in history["messages"]] == ["avant", "après"]
        view = await (await doctor.api("GET", f"/api/consultations/{cid}")).json()
        assert view["report"] == "v2" and view["status"] == "ended"
        await patient.session.close()
    finally:
        for peer in sockets:
            await peer.close()
        for browser in (doctor, regulator, caller):
            await browser.session.close()
    assert await _count(database, ChatMessage) == 2 and await _count(database, Capture) == 2
    assert await _count(database, Consultation) == 1
