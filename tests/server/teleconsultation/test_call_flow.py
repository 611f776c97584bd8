"""A whole consultation over the real server: HTTP + python-socketio clients, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fakes import Browser, SocketPeer, join_as_patient, make_user, new_consultation

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}


async def _practitioner(server: Any, username: str = "drhouse") -> Browser:
    await make_user(server, username)
    browser = Browser(server)
    response = await browser.login(username)
    assert response.status == 303
    return browser


async def _admitted_pair(server: Any) -> tuple[Browser, Browser, SocketPeer, SocketPeer, dict[str, Any], str, str]:
    doctor = await _practitioner(server)
    created = await new_consultation(doctor)
    cid = created["consultation"]["id"]
    patient = await join_as_patient(server, created["link"]["url"])
    doc_sock = await SocketPeer.connect(doctor)
    pat_sock = await SocketPeer.connect(patient)
    doc_join = await doc_sock.call("join", {"consultation": cid, "instance": "doc-1"})
    pat_join = await pat_sock.call("join", {"instance": "pat-1"})
    assert doc_join["ok"] and pat_join["ok"], (doc_join, pat_join)
    assert pat_join["state"] == "checking"
    assert (await pat_sock.call("ready"))["state"] == "waiting"
    room = await doc_sock.next("waiting-room")
    while not any(p["state"] == "waiting" for p in room["participants"]):
        room = await doc_sock.next("waiting-room")
    assert (await doc_sock.call("admit", {"participant": pat_join["me"]}))["ok"]
    await pat_sock.next("admitted")
    return doctor, patient, doc_sock, pat_sock, created, doc_join["me"], pat_join["me"]


async def test_patient_is_admitted_signals_chats_and_is_ended(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, created, doc_id, pat_id = await _admitted_pair(live_server)
    try:
        assert (await doc_sock.call("enter"))["peers"] == []
        entered = await pat_sock.call("enter")
        assert [peer["id"] for peer in entered["peers"]] == [doc_id]
        joined = await doc_sock.next("peer-joined")
        assert joined == {"id": pat_id, "kind": "patient", "label": "", "instance": "pat-1"}

        ack = await doc_sock.call("signal", {"to": pat_id, "data": {"description": OFFER}})
        assert ack == {"ok": True, "delivered": True}
        assert await pat_sock.next("signal") == {"from": doc_id, "data": {"description": OFFER}}
        await pat_sock.call("signal", {"to": doc_id, "data": {"description": ANSWER}})
        assert (await doc_sock.next("signal"))["data"]["description"]["type"] == "answer"

        assert (await pat_sock.call("chat", {"text": "Bonjour docteur"}))["ok"]
        for sock in (doc_sock, pat_sock):
            message = await sock.next("chat")
            assert message["text"] == "Bonjour docteur" and message["from"] == pat_id

        cid = created["consultation"]["id"]
        history = await (await doctor.api("GET", f"/api/consultations/{cid}/chat")).json()
        assert [m["text"] for m in history["messages"]] == ["Bonjour docteur"]

        ended = await doctor.api("POST", f"/api/consultations/{cid}/end", json={"report": "Rhinopharyngite."})
        assert ended.status == 200 and (await ended.json())["status"] == "ended"
        await pat_sock.next("ended")
        after = await patient.session.get("/visit")
        assert after.status == 403  # the patient's session closed with the consultation
        details = await (await doctor.api("GET", f"/api/consultations/{cid}")).json()
        assert details["report"] == "Rhinopharyngite."
    finally:
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_microphone_and_camera_state_reaches_the_other_side_of_the_call(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, _, doc_id, pat_id = await _admitted_pair(live_server)
    try:
        await doc_sock.call("enter")
        await pat_sock.call("enter")
        await doc_sock.next("peer-joined")
        muted = {"media": {"audio": False, "video": True}}
        assert (await pat_sock.call("signal", {"to": doc_id, "data": muted}))["ok"]
        assert await doc_sock.next("signal") == {"from": pat_id, "data": muted}
        refused = await pat_sock.call("signal", {"to": doc_id, "data": {"media": {"audio": "off", "video": True}}})
        assert refused["ok"] is False and refused["error"] == "invalid"
    finally:
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_patient_who_hung_up_and_is_admitted_again_gets_the_chat_back(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, _, doc_id, pat_id = await _admitted_pair(live_server)
    again = None
    try:
        await doc_sock.call("enter")
        await pat_sock.call("enter")
        assert (await pat_sock.call("chat", {"text": "J'ai de la fièvre"}))["ok"]
        assert (await pat_sock.call("leave"))["ok"]
        await pat_sock.close()
        again = await SocketPeer.connect(patient)  # the "join again" button reloads the page
        rejoin = await again.call("join", {"instance": "pat-2"})
        assert rejoin["state"] == "left" and "chat" not in rejoin
        assert (await again.call("ready"))["state"] == "waiting"
        assert (await doc_sock.call("admit", {"participant": pat_id}))["ok"]
        await again.next("admitted")
        entered = await again.call("enter")
        assert [message["text"] for message in entered["chat"]] == ["J'ai de la fièvre"]
    finally:
        for sock in (doc_sock, pat_sock, again):
            if sock is not None:
                await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_practitioner_removes_a_waiting_patient_whose_session_no_longer_joins(live_server: Any) -> None:
    doctor = await _practitioner(live_server)
    created = await new_consultation(doctor)
    cid = created["consultation"]["id"]
    patient = await join_as_patient(live_server, created["link"]["url"])
    doc_sock = await SocketPeer.connect(doctor)
    pat_sock = await SocketPeer.connect(patient)
    try:
        await doc_sock.call("join", {"consultation": cid, "instance": "doc-1"})
        pat_id = (await pat_sock.call("join", {"instance": "pat-1"}))["me"]
        assert (await pat_sock.call("ready"))["state"] == "waiting"
        disconnected = asyncio.Event()
        pat_sock.client.on("disconnect", disconnected.set, namespace="/call")
        removed = await doctor.api("POST", f"/api/consultations/{cid}/participants/{pat_id}/remove")
        assert removed.status == 200
        await pat_sock.next("removed")
        await asyncio.wait_for(disconnected.wait(), 5)  # its socket is closed
        room = await doc_sock.next("waiting-room")
        while any(p["id"] == pat_id for p in room["participants"]):  # earlier updates come first
            room = await doc_sock.next("waiting-room")
        assert (await patient.session.get("/visit")).status == 403  # its session is over
        assert (await doc_sock.call("admit", {"participant": pat_id}))["ok"] is False
        import socketio

        with pytest.raises(socketio.exceptions.ConnectionError):  # its session no longer joins
            await SocketPeer.connect(patient)
    finally:
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_reconnecting_patient_keeps_admission_and_peer_learns_same_instance(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, _, doc_id, pat_id = await _admitted_pair(live_server)
    try:
        await doc_sock.call("enter")
        await pat_sock.call("enter")
        await doc_sock.next("peer-joined")
        await pat_sock.close()  # the phone lost its network: a new socket, a new sid
        again = await SocketPeer.connect(patient)
        rejoin = await again.call("join", {"instance": "pat-1"})
        assert rejoin["state"] == "admitted" and rejoin["me"] == pat_id
        assert [p["id"] for p in (await again.call("enter"))["peers"]] == [doc_id]
        assert (await doc_sock.next("peer-joined"))["instance"] == "pat-1"
        await doc_sock.call("signal", {"to": pat_id, "data": {"restartRequest": True}})
        assert (await again.next("signal"))["data"] == {"restartRequest": True}
        await again.close()
    finally:
        await doc_sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_patient_of_one_consultation_cannot_reach_another(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, created, doc_id, pat_id = await _admitted_pair(live_server)
    other = await new_consultation(doctor, "Autre Patient")
    other_cid = other["consultation"]["id"]
    intruder = await join_as_patient(live_server, other["link"]["url"])
    intruder_sock = await SocketPeer.connect(intruder)
    try:
        refused = await pat_sock.call("join", {"consultation": other_cid, "instance": "x"})
        assert refused["ok"] is False and refused["error"] == "forbidden"
        await intruder_sock.call("join", {"instance": "i-1"})
        denied = await intruder_sock.call("signal", {"to": pat_id, "data": {"restartRequest": True}})
        assert denied["ok"] is False and denied["error"] == "forbidden"
        chat = await intruder_sock.call("chat", {"text": "hello?"})
        assert chat["ok"] is False
        for path in (f"/api/consultations/{created['consultation']['id']}", "/api/consultations",
                     f"/api/consultations/{other_cid}/chat"):
            response = await intruder.api("GET", path)
            assert response.status in (401, 403), path
        # The only signal the patient ever gets is the one its own practitioner sends.
        await doc_sock.call("signal", {"to": pat_id, "data": {"restartRequest": True}})
        assert (await pat_sock.next("signal"))["from"] == doc_id
    finally:
        for sock in (doc_sock, pat_sock, intruder_sock):
            await sock.close()
        for browser in (doctor, patient, intruder):
            await browser.session.close()


async def test_another_practitioner_cannot_see_or_join(live_server: Any) -> None:
    doctor = await _practitioner(live_server)
    created = await new_consultation(doctor)
    cid = created["consultation"]["id"]
    other = await _practitioner(live_server, "drwho")
    sock = await SocketPeer.connect(other)
    try:
        assert (await other.api("GET", f"/api/consultations/{cid}")).status == 404
        assert (await other.api("POST", f"/api/consultations/{cid}/links", json={"role": "guest"})).status == 404
        refused = await sock.call("join", {"consultation": cid, "instance": "w"})
        assert refused["error"] == "forbidden"
    finally:
        await sock.close()
        await doctor.session.close()
        await other.session.close()


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("no-such-event", {}, "unknown_event"),
        ("signal", "not an object", "invalid"),
        ("signal", {"to": "../../etc", "data": {"restartRequest": True}}, "invalid"),
        ("signal", {"to": "a" * 32, "data": {"description": {"type": "offer", "sdp": "v=0" + "x" * 60_000}}}, "invalid"),
        ("signal", {"to": "a" * 32, "data": {"description": {"type": "offer", "sdp": "<script>"}}}, "invalid"),
        ("signal", {"to": "a" * 32, "data": {"candidate": {"candidate": "x" * 5000}}}, "invalid"),
        ("chat", {"text": "x" * 5000}, "invalid"),
        ("chat", {"text": 42}, "invalid"),
        ("admit", {"participant": None}, "invalid"),
        ("join", [1, 2, 3], "invalid"),
        ("ready", {"unexpected": 1}, "invalid"),
        ("enter", {"blob": "y" * 120_000}, "invalid"),
    ],
)
async def test_bad_events_get_error_acks_and_the_connection_survives(
    live_server: Any, event: str, payload: Any, code: str
) -> None:
    doctor, patient, doc_sock, pat_sock, *_ = await _admitted_pair(live_server)
    try:
        ack = await pat_sock.call(event, payload)
        assert ack["ok"] is False and ack["error"] == code, ack
        assert "Traceback" not in ack["message"]
        assert (await pat_sock.call("enter"))["ok"]  # same connection still served
    finally:
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_signal_flood_is_rate_limited_and_hangup_still_works(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, _, doc_id, pat_id = await _admitted_pair(live_server)
    try:
        await doc_sock.call("enter")
        await pat_sock.call("enter")
        *acks, left = await asyncio.gather(*[
            pat_sock.call("signal", {"to": doc_id, "data": {"restartRequest": True}}) for _ in range(300)
        ], pat_sock.call("leave"))
        assert any(a.get("error") == "rate_limited" for a in acks)
        assert any(a.get("ok") for a in acks)
        # Hanging up right after its own flood (the app clock has not moved: no refill) is never rate-limited.
        assert left == {"ok": True}
        assert (await doc_sock.next("peer-left"))["id"] == pat_id
    finally:
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_socket_without_session_or_from_foreign_origin_is_refused(live_server: Any) -> None:
    import socketio

    anonymous = Browser(live_server)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await SocketPeer.connect(anonymous)
        doctor = await _practitioner(live_server)
        client = socketio.AsyncClient(http_session=doctor.session, reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(live_server.url, namespaces=["/call"], transports=["websocket"],
                                 headers={"Cookie": doctor.cookie_header(), "Origin": "https://evil.example"},
                                 wait_timeout=5)
        await doctor.session.close()
    finally:
        await anonymous.session.close()


async def test_frame_over_transport_limit_closes_only_that_connection(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, *_ = await _admitted_pair(live_server)
    try:
        disconnected = asyncio.Event()
        pat_sock.client.on("disconnect", lambda *args: disconnected.set(), namespace="/call")
        await pat_sock.client.emit("chat", {"text": "x" * 400_000}, namespace="/call")
        await asyncio.wait_for(disconnected.wait(), 10)
        assert (await doc_sock.call("enter"))["ok"]  # the server and the other connection carry on
        again = await SocketPeer.connect(patient)
        assert (await again.call("join", {"instance": "pat-2"}))["state"] == "admitted"
        await again.close()
    finally:
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_third_participant_joins_through_a_guest_link(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, created, doc_id, pat_id = await _admitted_pair(live_server)
    cid = created["consultation"]["id"]
    response = await doctor.api("POST", f"/api/consultations/{cid}/links", json={"role": "guest", "label": "Interprète"})
    guest_link = await response.json()
    guest = await join_as_patient(live_server, guest_link["url"])
    guest_sock = await SocketPeer.connect(guest)
    try:
        await doc_sock.call("enter")
        await pat_sock.call("enter")
        joined = await guest_sock.call("join", {"instance": "g-1"})
        assert joined["kind"] == "guest" and joined["state"] == "checking"
        assert (await guest_sock.call("enter"))["error"] == "conflict"  # not admitted yet
        await guest_sock.call("ready")
        await doc_sock.call("admit", {"participant": joined["me"]})
        await guest_sock.next("admitted")
        peers = (await guest_sock.call("enter"))["peers"]
        assert {p["id"] for p in peers} == {doc_id, pat_id}
        for sock in (doc_sock, pat_sock):
            arrival = await sock.next("peer-joined")
            while arrival["id"] != joined["me"]:
                arrival = await sock.next("peer-joined")
            assert arrival["label"] == "Interprète"
    finally:
        for sock in (doc_sock, pat_sock, guest_sock):
            await sock.close()
        for browser in (doctor, patient, guest):
            await browser.session.close()


async def test_old_socket_dropping_after_a_reconnect_does_not_take_the_patient_offline(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, _, doc_id, pat_id = await _admitted_pair(live_server)
    newer = await SocketPeer.connect(patient)
    try:
        await newer.call("join", {"instance": "pat-1"})
        await pat_sock.close()  # the stale socket goes away only after the new one joined
        await asyncio.sleep(0.3)
        ack = await doc_sock.call("signal", {"to": pat_id, "data": {"restartRequest": True}})
        assert ack == {"ok": True, "delivered": True}
        await newer.close()
        # Going offline is asynchronous (the disconnect handler writes presence): it must happen, soon.
        async with asyncio.timeout(5):
            while ack["delivered"]:
                await asyncio.sleep(0.1)
                ack = await doc_sock.call("signal", {"to": pat_id, "data": {"restartRequest": True}})
        assert ack == {"ok": True, "delivered": False}
    finally:
        await doc_sock.close()
        await doctor.session.close()
        await patient.session.close()
