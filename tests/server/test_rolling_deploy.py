"""Catalogue §4b 11: a rolling deploy. Two server processes share PostgreSQL and Redis; each is restarted in turn
(SIGTERM, then started again) during a few calls. Every consultation survives: the clients of the stopped process
reconnect to the other one and re-join from the database state (still admitted, chat intact); none ends or fails.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from server.platform.db import open_database
from server.platform.models import Consultation, ConsultationEvent, Participant
from server.platform.tls import client_ssl_context
from tests.fakes import Browser, SocketPeer, join_as_patient, new_consultation
from tests.server.teleconsultation.test_crash_recovery import _prepare, _start, _stop
from tests.server.test_multiprocess import Node, cluster_env  # noqa: F401 (fixture)

CALLS = 3


@dataclass
class Call:
    cid: str
    patient: Browser
    patient_id: str
    doctor_socket: SocketPeer | None = None
    patient_socket: SocketPeer | None = None
    node: int = 0


async def _connect(call: Call, doctor: Browser, nodes: list[Node], index: int) -> None:
    """Join (or re-join) both sides of ``call`` through process ``index``; both end up in the call."""
    url = nodes[index].url
    call.node = index
    call.doctor_socket = await SocketPeer.connect(doctor, url)
    call.patient_socket = await SocketPeer.connect(call.patient, url)
    assert (await call.doctor_socket.call("join", {"consultation": call.cid}))["ok"]
    joined = await call.patient_socket.call("join", {})
    assert joined["ok"] and joined["me"] == call.patient_id, joined
    if joined["state"] != "admitted":
        await call.patient_socket.call("ready")
        assert (await call.doctor_socket.call("admit", {"participant": call.patient_id}))["ok"]
    await call.doctor_socket.call("enter")
    assert (await call.patient_socket.call("enter"))["ok"]


async def _chat(call: Call, text: str) -> None:
    assert call.patient_socket is not None and call.doctor_socket is not None
    assert (await call.patient_socket.call("chat", {"text": text}))["ok"]
    assert (await call.doctor_socket.next("chat"))["text"] == text


async def _close(call: Call) -> None:
    for peer in (call.doctor_socket, call.patient_socket):
        if peer is not None:
            await peer.close()
    call.doctor_socket = call.patient_socket = None


async def test_restarting_processes_one_by_one_keeps_every_consultation(cluster_env: dict[str, str],
                                                                        test_certs: Any) -> None:
    await _prepare(cluster_env)
    ssl_context = client_ssl_context(test_certs.ca_cert)
    ports = cluster_env["PORTS"].split(",")
    nodes = [await _start(cluster_env, port, ssl_context) for port in ports]
    calls: list[Call] = []
    try:
        async with Browser(nodes[0]) as doctor:
            assert (await doctor.login()).status == 303
            for number in range(CALLS):
                created = await new_consultation(doctor, f"Patient {number}")
                patient = await join_as_patient(nodes[0], created["link"]["url"])
                call = Call(created["consultation"]["id"], patient, "")
                probe = await SocketPeer.connect(patient)
                call.patient_id = (await probe.call("join", {}))["me"]
                await probe.close()
                await _connect(call, doctor, nodes, number % 2)
                await _chat(call, "bonjour")
                calls.append(call)
            for restarting in (0, 1):
                other = 1 - restarting
                nodes[restarting].process.send_signal(signal.SIGTERM)
                moved = [call for call in calls if call.node == restarting]
                # Disconnected by the stopping process, its clients give up their sockets and go elsewhere.
                await asyncio.gather(asyncio.to_thread(nodes[restarting].process.wait, 30),
                                     *(_close(call) for call in moved))
                for call in calls:
                    if call in moved:  # the load balancer sends the reconnection to the other process
                        await _connect(call, doctor, nodes, other)
                    await _chat(call, f"after restart {restarting}")
                nodes[restarting] = await _start(cluster_env, ports[restarting], ssl_context)
            for call in calls:
                history = await (await doctor.api("GET", f"/api/consultations/{call.cid}/chat")).json()
                assert [m["text"] for m in history["messages"]] == ["bonjour", "after restart 0", "after restart 1"]
                await _close(call)
                await call.patient.session.close()
    finally:
        _stop(nodes)
    async with open_database(cluster_env["LUCARNE_DATABASE_URL"]) as (_, sessions):
        async with sessions() as session:
            statuses = set(await session.scalars(select(Consultation.status)))
            states = set(await session.scalars(select(Participant.state)))
            ended = list(await session.scalars(select(ConsultationEvent).where(ConsultationEvent.event == "ended")))
    assert statuses == {"in_progress"} and states == {"admitted"} and ended == []
