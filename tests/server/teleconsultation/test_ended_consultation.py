"""Once a consultation ends, no socket event is accepted for it (issue #9 Medium 7), whoever sends it.

The patient's session is revoked and its socket closed at the end; here both are held back (the socket stays open
and its session still looks live, as within the one-second cache of another process with the notice in flight) to
show that the call rules refuse on their own.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from server.identity.socket_sessions import SocketSessions
from server.keys import db_key
from server.platform.models import ChatMessage
from tests.fakes import (
    Browser,
    SocketPeer,
    join_as_patient,
    make_user,
    new_consultation,
)

OFFER_SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def _events(me: str, other: str, cid: str) -> list[tuple[str, Any]]:
    return [
        ("chat", {"text": "encore là ?"}),
        ("signal", {"to": other, "data": {"restartRequest": True}}),
        ("ready", None),
        ("enter", None),
        ("admit", {"participant": other}),
        ("leave", None),
        ("relay-publish", {"peer": other, "sdp": OFFER_SDP}),
        ("relay-subscribe", {"peer": other, "sdp": OFFER_SDP}),
        ("join", {"consultation": cid, "instance": "again"}),
    ]


async def _chat_rows(server: Any) -> int:
    async with server.app[db_key]() as session:
        return int(await session.scalar(select(func.count()).select_from(ChatMessage)) or 0)


async def _ended_call(server: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Browser], SocketPeer, SocketPeer,
                                                                               str, str, str]:
    await make_user(server)
    doctor = Browser(server)
    await doctor.login()
    created = await new_consultation(doctor)
    cid = created["consultation"]["id"]
    patient = await join_as_patient(server, created["link"]["url"])
    doc_sock, pat_sock = await SocketPeer.connect(doctor), await SocketPeer.connect(patient)
    doc_id = (await doc_sock.call("join", {"consultation": cid, "instance": "d"}))["me"]
    pat_id = (await pat_sock.call("join", {"instance": "p"}))["me"]
    await pat_sock.call("ready")
    assert (await doc_sock.call("admit", {"participant": pat_id}))["ok"]
    for sock in (doc_sock, pat_sock):
        assert (await sock.call("enter"))["ok"]
    assert (await pat_sock.call("chat", {"text": "bonjour"}))["ok"]  # accepted while the call is on

    async def held_back(self: SocketSessions, *args: Any, **kwargs: Any) -> None:
        return None

    async def still_live(self: SocketSessions, session_hash: str) -> bool:
        return True

    monkeypatch.setattr(SocketSessions, "end", held_back)
    monkeypatch.setattr(SocketSessions, "sweep", held_back)
    monkeypatch.setattr(SocketSessions, "is_live", still_live)
    ended = await doctor.api("POST", f"/api/consultations/{cid}/end", json={})
    assert ended.status == 200
    await pat_sock.next("ended")
    return [doctor, patient], doc_sock, pat_sock, doc_id, pat_id, cid


@pytest.mark.parametrize("who", ["patient", "practitioner"])
async def test_no_event_is_accepted_after_the_consultation_ended(live_server: Any, monkeypatch: pytest.MonkeyPatch,
                                                                 who: str) -> None:
    browsers, doc_sock, pat_sock, doc_id, pat_id, cid = await _ended_call(live_server, monkeypatch)
    sock, me, other = (pat_sock, pat_id, doc_id) if who == "patient" else (doc_sock, doc_id, pat_id)
    try:
        for event, payload in _events(me, other, cid):
            ack = await sock.call(event, payload)
            assert ack["ok"] is False, (event, ack)
            assert "Traceback" not in ack["message"]
        assert await _chat_rows(live_server) == 1  # only the message sent during the call
    finally:
        for peer in (doc_sock, pat_sock):
            await peer.close()
        for browser in browsers:
            await browser.session.close()
