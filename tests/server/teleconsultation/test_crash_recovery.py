"""A server process killed with SIGKILL mid-call: the record shows one consultation with an interruption event.

Real server processes (as in test_multiprocess.py, sharing PostgreSQL and Redis) and real socket.io clients.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

from sqlalchemy import select

from server.config import LimitSettings
from server.identity.accounts import Accounts
from server.platform.clock import SystemClock
from server.platform.db import open_database
from server.platform.migrate import upgrade
from server.platform.models import Consultation, ConsultationEvent, Participant
from server.platform.tls import client_ssl_context
from tests.conftest import reset_postgres
from tests.fakes import Browser, SocketPeer, join_as_patient, new_consultation
from tests.server.test_multiprocess import ROOT, Node, _wait_healthy, cluster_env  # noqa: F401 (fixture)


async def _prepare(env: dict[str, str]) -> None:
    async with open_database(env["LUCARNE_DATABASE_URL"]) as (engine, sessions):
        await reset_postgres(engine)
        await upgrade(engine)
        await Accounts(sessions, SystemClock(), LimitSettings()).create("drhouse", "correct horse battery",
                                                                         "Dr House", "practitioner")


async def _start(env: dict[str, str], port: str, ssl_context: Any) -> Node:
    process = subprocess.Popen([sys.executable, "-m", "server", "run"], cwd=ROOT,
                               env={**env, "LUCARNE_PORT": port}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    node = Node(f"https://localhost:{port}", ssl_context, process)
    await _wait_healthy(node.url, ssl_context, process)
    return node


def _kill(node: Node) -> None:
    os.kill(node.process.pid, signal.SIGKILL)
    node.process.wait(timeout=10)  # reaped: its pid no longer exists


def _stop(nodes: list[Node]) -> None:
    for node in nodes:
        if node.process.poll() is None:
            node.process.terminate()
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()


async def _in_call(doctor: Browser, patient: Browser, cid: str) -> tuple[SocketPeer, SocketPeer, str]:
    doc = await SocketPeer.connect(doctor)
    pat = await SocketPeer.connect(patient)
    await doc.call("join", {"consultation": cid, "instance": "d"})
    pat_id = (await pat.call("join", {"instance": "p"}))["me"]
    await pat.call("ready")
    assert (await doc.call("admit", {"participant": pat_id}))["ok"]
    await doc.call("enter")
    await pat.call("enter")
    assert (await pat.call("chat", {"text": "avant la coupure"}))["ok"]
    return doc, pat, pat_id


async def _online(env: dict[str, str], cid: str) -> list[bool]:
    async with open_database(env["LUCARNE_DATABASE_URL"]) as (_, sessions):
        async with sessions() as session:
            return list(await session.scalars(select(Participant.online).where(Participant.consultation_id == cid)))


async def _record(env: dict[str, str], cid: str) -> tuple[str, list[ConsultationEvent]]:
    async with open_database(env["LUCARNE_DATABASE_URL"]) as (_, sessions):
        async with sessions() as session:
            status = (await session.get(Consultation, cid)).status  # type: ignore[union-attr]
            events = list(await session.scalars(select(ConsultationEvent).where(
                ConsultationEvent.consultation_id == cid, ConsultationEvent.event == "interrupted")))
    return status, events


async def _rejoin(doctor: Browser, patient: Browser, cid: str, pat_id: str, url: str | None = None) -> None:
    """Both clients re-join from the database state: the patient is still admitted and the chat is there."""
    doc, pat = await SocketPeer.connect(doctor, url), await SocketPeer.connect(patient, url)
    try:
        assert (await doc.call("join", {"consultation": cid, "instance": "d"}))["ok"]
        joined = await pat.call("join", {"instance": "p"})
        assert joined["ok"] and joined["me"] == pat_id and joined["state"] == "admitted", joined
        assert [m["text"] for m in joined["chat"]] == ["avant la coupure"]
        await doc.call("enter")
        peers = await pat.call("enter")
        assert peers["ok"] and len(peers["peers"]) == 1
    finally:
        await doc.close()
        await pat.close()


async def test_a_process_killed_mid_call_leaves_an_interruption_in_the_record(cluster_env: dict[str, str],
                                                                            test_certs: Any) -> None:
    """Two calls held by the first process when it is killed: the clients of one reconnect to the second process
    (the re-join records the interruption); the other call is found when the first process starts again."""
    await _prepare(cluster_env)
    ssl_context = client_ssl_context(test_certs.ca_cert)
    first_port, second_port = cluster_env["PORTS"].split(",")
    nodes = [await _start(cluster_env, first_port, ssl_context), await _start(cluster_env, second_port, ssl_context)]
    first, second = nodes
    try:
        async with Browser(first) as doctor:
            assert (await doctor.login()).status == 303
            calls = []
            for _ in range(2):
                created = await new_consultation(doctor)
                cid = created["consultation"]["id"]
                patient = await join_as_patient(first, created["link"]["url"])
                calls.append((cid, patient, *await _in_call(doctor, patient, cid)))
            _kill(first)
            for _, _, doc, pat, _ in calls:
                await doc.close()
                await pat.close()
            (rejoined, patient_a, _, _, pat_a), (restarted, patient_b, _, _, pat_b) = calls
            assert await _online(cluster_env, rejoined) == [True, True]  # nobody told the database
            assert (await _record(cluster_env, rejoined))[1] == []

            await _rejoin(doctor, patient_a, rejoined, pat_a, second.url)
            status, events = await _record(cluster_env, rejoined)
            assert status == "in_progress" and len(events) == 1 and "detected" in events[0].detail
            assert (await _record(cluster_env, restarted))[1] == []  # only the call being re-joined is checked

            nodes.append(await _start(cluster_env, first_port, ssl_context))  # start-up check
            status, events = await _record(cluster_env, restarted)
            assert status == "in_progress" and len(events) == 1 and events[0].actor == "system"
            assert await _online(cluster_env, restarted) == [False, False]
            record = await (await doctor.api("GET", f"/api/consultations/{restarted}/events")).json()
            interrupted = [e for e in record["events"] if e["event"] == "interrupted"]
            assert len(interrupted) == 1 and interrupted[0]["text"].startswith("Call interrupted: the server")
            assert [e["event"] for e in record["events"]].count("started") == 1  # one continuous consultation
            await _rejoin(doctor, patient_b, restarted, pat_b)
            for patient in (patient_a, patient_b):
                await patient.session.close()
        assert [len((await _record(cluster_env, cid))[1]) for cid in (rejoined, restarted)] == [1, 1]
    finally:
        _stop(nodes)


async def test_participants_left_online_by_a_dead_process_of_this_host_are_reset(live_server: Any) -> None:
    from sqlalchemy import update

    from server.keys import calls_key, db_key
    from server.teleconsultation.interruptions import ProcessNode, connection_of
    from tests.fakes import make_user

    await make_user(live_server)
    async with Browser(live_server) as doctor:
        assert (await doctor.login()).status == 303
        cid = (created := await new_consultation(doctor))["consultation"]["id"]
        patient = await join_as_patient(live_server, created["link"]["url"])
        doc, pat, _ = await _in_call(doctor, patient, cid)
        await doc.close()
        await pat.close()
        await patient.session.close()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    here = ProcessNode.current()
    sessions = live_server.app[db_key]
    for _ in range(100):  # the clean disconnects take both offline first
        async with sessions() as session:
            if not any(await session.scalars(select(Participant.online).where(Participant.consultation_id == cid))):
                break
        await asyncio.sleep(0.02)
    dead, elsewhere = ProcessNode(here.host, int(gone.stdout), "abcdef"), ProcessNode("other-host", 1, "abcdef")
    async with sessions.begin() as session:
        rows = list(await session.scalars(select(Participant).where(Participant.consultation_id == cid)))
        for row, node in zip(rows, (dead, elsewhere)):
            row.online, row.connection = True, connection_of(node, "sid")
    assert await live_server.app[calls_key].recover_interrupted() == [cid]
    async with sessions() as session:
        online = {row.connection: row.online for row in await session.scalars(
            select(Participant).where(Participant.consultation_id == cid))}
        events = list(await session.scalars(select(ConsultationEvent.event).where(
            ConsultationEvent.consultation_id == cid)))
    # The dead process's participant is offline; another host's process cannot be checked from here.
    assert online == {"": False, connection_of(elsewhere, "sid"): True}
    assert events.count("interrupted") == 1
    assert await live_server.app[calls_key].recover_interrupted() == []  # once
    async with sessions.begin() as session:
        await session.execute(update(Participant).where(Participant.consultation_id == cid)
                              .values(online=True, connection=connection_of(here, "sid")))
    assert await live_server.app[calls_key].recover_interrupted() == []  # this very process is alive
