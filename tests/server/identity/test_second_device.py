"""One device per participant session (issue #9, Low): a copied session cookie opened on a second device while the
first is connected does not inherit the admission. The participant goes back to the waiting room, the first socket
is told and closed, and the practitioner is told."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from server.keys import db_key
from server.platform.models import ConsultationEvent
from tests.fakes import (
    Browser,
    SocketPeer,
    join_as_patient,
    make_user,
    new_consultation,
)


async def _in_call(server: Any) -> tuple[Browser, Browser, SocketPeer, SocketPeer, str, str]:
    await make_user(server)
    doctor = Browser(server)
    await doctor.login()
    created = await new_consultation(doctor)
    cid = created["consultation"]["id"]
    patient = await join_as_patient(server, created["link"]["url"])
    doc_sock, phone = await SocketPeer.connect(doctor), await SocketPeer.connect(patient)
    await doc_sock.call("join", {"consultation": cid, "instance": "doctor"})
    pat_id = (await phone.call("join", {"instance": "phone"}))["me"]
    await phone.call("ready")
    assert (await doc_sock.call("admit", {"participant": pat_id}))["ok"]
    assert (await doc_sock.call("enter"))["ok"] and (await phone.call("enter"))["ok"]
    return doctor, patient, doc_sock, phone, pat_id, cid


async def _closed_within(peer: SocketPeer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while "/call" in peer.client.namespaces:
        assert time.monotonic() < deadline, "the first device's socket is still open"
        await asyncio.sleep(0.02)


async def _until_waiting_again(doc_sock: SocketPeer, pat_id: str) -> dict[str, Any]:
    """What the practitioner's socket received until its waiting room shows the participant waiting again."""
    seen: dict[str, Any] = {}
    async with asyncio.timeout(5):
        while True:
            name, data = await doc_sock.received.get()
            seen[name] = data
            if name == "waiting-room" and "second-device" in seen and any(
                    p["id"] == pat_id and p["state"] == "waiting" and not p["in_call"] for p in data["participants"]):
                return seen


async def test_a_second_device_with_the_same_session_needs_admission_again(live_server: Any) -> None:
    doctor, patient, doc_sock, phone, pat_id, cid = await _in_call(live_server)
    laptop = await SocketPeer.connect(patient)  # the same cookie, another device
    try:
        joined = await laptop.call("join", {"instance": "laptop"})
        assert joined["ok"] and joined["me"] == pat_id and joined["state"] == "waiting", joined
        assert "chat" not in joined  # no history for a device nobody admitted

        await phone.next("replaced")
        await _closed_within(phone, 1.0)
        seen = await _until_waiting_again(doc_sock, pat_id)
        assert seen["second-device"]["id"] == pat_id and seen["second-device"]["instance"] == "laptop"
        assert seen["peer-left"] == {"id": pat_id}

        refused = await laptop.call("enter")
        assert refused["ok"] is False and refused["error"] == "conflict"
        assert (await laptop.call("chat", {"text": "c'est moi"}))["ok"] is False
        signal = await doc_sock.call("signal", {"to": pat_id, "data": {"restartRequest": True}})
        assert signal["ok"] is False

        assert (await doc_sock.call("admit", {"participant": pat_id}))["ok"]  # the practitioner checked
        await laptop.next("admitted")
        assert (await laptop.call("enter"))["ok"]
        async with live_server.app[db_key]() as session:
            events = list(await session.scalars(select(ConsultationEvent.event).where(
                ConsultationEvent.consultation_id == cid)))
        assert "other_device" in events
    finally:
        for sock in (doc_sock, phone, laptop):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_a_reload_or_a_reconnect_on_the_same_device_keeps_the_admission(live_server: Any) -> None:
    doctor, patient, doc_sock, phone, _, _ = await _in_call(live_server)
    try:
        again = await SocketPeer.connect(patient)  # the network came back before the old socket timed out
        assert (await again.call("join", {"instance": "phone"}))["state"] == "admitted"
        await phone.close()
        await again.close()
        await asyncio.sleep(0.1)  # the server saw both sockets go
        reloaded = await SocketPeer.connect(patient)  # a reload: a new page instance, no socket left online
        assert (await reloaded.call("join", {"instance": "phone-reloaded"}))["state"] == "admitted"
        await reloaded.close()
    finally:
        await doc_sock.close()
        await phone.close()
        await doctor.session.close()
        await patient.session.close()
