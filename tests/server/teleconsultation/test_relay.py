"""Relay through the server, in process: a practitioner and a patient (python-socketio clients with aiortc peers
as their browsers) publish to and subscribe from the real server; media flows both ways without the server
decoding it; only members in the call may relay; every path closes the server's peers (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from media import LatestFrame
from server.keys import relay_key
from tests.fakes import SocketPeer, join_as_patient, new_consultation
from tests.media.test_forward import assert_quadrants
from tests.media.test_peers import QuadrantTrack
from tests.server.teleconsultation.test_call_flow import _admitted_pair


class Side:
    """One browser's relay legs for its pair: a sending peer connection and a receiving one."""

    def __init__(self, sock: SocketPeer) -> None:
        self.sock = sock
        self.pub = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sub = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.video = LatestFrame()
        self._tasks: list[asyncio.Future[None]] = []

    async def publish(self, to: str) -> dict[str, Any]:
        self.pub.addTrack(QuadrantTrack())
        self.pub.addTrack(AudioStreamTrack())
        await self.pub.setLocalDescription(await self.pub.createOffer())
        ack = await self.sock.call("relay-publish", {"peer": to, "sdp": self.pub.localDescription.sdp})
        if ack["ok"]:
            await self.pub.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))
        return ack  # type: ignore[no-any-return]

    async def subscribe(self, publisher: str) -> dict[str, Any]:
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._tasks.append(asyncio.ensure_future(self.video.consume(track)))

        self.sub.on("track", on_track)
        self.sub.addTransceiver("video", direction="recvonly")
        self.sub.addTransceiver("audio", direction="recvonly")
        await self.sub.setLocalDescription(await self.sub.createOffer())
        ack = await self.sock.call("relay-subscribe", {"peer": publisher, "sdp": self.sub.localDescription.sdp})
        if ack["ok"]:
            await self.sub.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))
        return ack  # type: ignore[no-any-return]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pub.close()
        await self.sub.close()


async def _wait_for(condition, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


async def test_media_is_relayed_both_ways_and_hang_up_closes_every_peer(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, created, doc_id, pat_id = await _admitted_pair(live_server)
    cid = created["consultation"]["id"]
    relay = live_server.app[relay_key]
    doc, pat = Side(doc_sock), Side(pat_sock)
    try:
        early = await doc.publish(pat_id)  # nobody is in the call yet
        assert early["ok"] is False and early["error"] == "forbidden"
        await doc_sock.call("enter")
        joined = await pat_sock.call("enter")
        assert joined["ok"]
        assert (await pat_sock.call("join", {"instance": "pat-1"}))["media"]["relay"] == "auto"

        nothing = await pat.subscribe(doc_id)  # not published yet: a clear refusal, no peer left behind
        assert nothing["ok"] is False and nothing["error"] == "conflict"
        pat.sub = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        assert len(relay) == 0

        doc, pat = Side(doc_sock), Side(pat_sock)
        assert (await doc.publish(pat_id))["ok"]
        assert await pat_sock.next("relay-published") == {"from": doc_id}
        assert (await pat.publish(doc_id))["ok"]
        assert await doc_sock.next("relay-published") == {"from": pat_id}
        assert (await pat.subscribe(doc_id))["ok"]
        assert (await doc.subscribe(pat_id))["ok"]

        for side in (doc, pat):
            assert_quadrants(await side.video.wait_first(timeout_s=10))
        await _wait_for(lambda: doc.video.frames_seen >= 10 and pat.video.frames_seen >= 10)

        status = await (await doctor.api("GET", f"/api/consultations/{cid}/media")).json()
        legs = {(leg["publisher"], leg["role"]): leg for leg in status["peers"]}
        assert set(legs) == {(doc_id, "pub"), (doc_id, "sub"), (pat_id, "pub"), (pat_id, "sub")}
        for who in (doc_id, pat_id):
            assert legs[(who, "pub")]["forwarded"]["video"] > 0 and legs[(who, "pub")]["forwarded"]["audio"] > 0
            assert legs[(who, "pub")]["decoded"] == 0  # passthrough: the server decoded nothing
            assert legs[(who, "sub")]["sent"]["video"] > 0
        refused = await patient.api("GET", f"/api/consultations/{cid}/media")
        assert refused.status in (401, 403)

        assert (await pat_sock.call("leave"))["ok"]  # the patient hangs up: both sides' relay peers go
        assert len(relay) == 0 and len(live_server.app[relay_key]._peers) == 0
        late = Side(doc_sock)
        after = await late.publish(pat_id)  # the patient left the call
        await late.close()
        assert after["ok"] is False and after["error"] == "forbidden"
    finally:
        for side in (doc, pat):
            await side.close()
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()


async def test_socket_loss_and_end_close_peers_and_strangers_are_refused(live_server: Any) -> None:
    doctor, patient, doc_sock, pat_sock, created, doc_id, pat_id = await _admitted_pair(live_server)
    cid = created["consultation"]["id"]
    relay = live_server.app[relay_key]
    other = await new_consultation(doctor, "Autre Patient")
    intruder = await join_as_patient(live_server, other["link"]["url"])
    intruder_sock = await SocketPeer.connect(intruder)
    doc, pat, stranger = Side(doc_sock), Side(pat_sock), Side(intruder_sock)
    try:
        await doc_sock.call("enter")
        await pat_sock.call("enter")
        assert (await doc.publish(pat_id))["ok"] and (await pat.publish(doc_id))["ok"]
        assert (await pat.subscribe(doc_id))["ok"]
        assert len(relay) == 3

        assert (await intruder_sock.call("join", {"instance": "i-1"}))["ok"]
        for event in ("relay-subscribe", "relay-publish"):
            denied = await intruder_sock.call(event, {"peer": doc_id, "sdp": pat.sub.localDescription.sdp})
            assert denied["ok"] is False and denied["error"] == "forbidden", event
        bad = await pat_sock.call("relay-publish", {"peer": doc_id, "sdp": "v=0\r\n" + "x" * 60_000})
        assert bad["ok"] is False and bad["error"] == "invalid"
        garbage = await pat_sock.call("relay-publish", {"peer": doc_id, "sdp": "v=0\r\nnot an offer\r\n"})
        assert garbage["ok"] is False and garbage["error"] == "invalid"
        assert len(relay) == 3  # refused before anything was replaced

        # The practitioner's socket is lost: the peers that socket made close; the patient's stay until it
        # hangs up, re-subscribes or the consultation ends.
        await doc_sock.close()
        await _wait_for(lambda: len(relay) == 2, 5)
        assert {(leg["publisher"], leg["subscriber"], leg["role"]) for leg in relay.status(cid)} == {
            (doc_id, pat_id, "sub"), (pat_id, doc_id, "pub")}

        ended = await doctor.api("POST", f"/api/consultations/{cid}/end", json={})
        assert ended.status == 200
        assert len(relay) == 0 and len(relay._peers) == 0
    finally:
        for side in (doc, pat, stranger):
            await side.close()
        for sock in (pat_sock, intruder_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()
        await intruder.session.close()


async def test_shutdown_closes_relay_peers(db: Any, database_url: str, test_certs: Any) -> None:
    from aiohttp import web

    from server.app import create_app
    from server.platform.clock import ManualClock
    from server.platform.tls import client_ssl_context, server_ssl_context
    from tests.conftest import LiveServer, free_port, make_settings

    port = free_port()
    settings = make_settings(database_url, port, media_relay="always")
    app = create_app(settings, clock=ManualClock())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port,
                      ssl_context=server_ssl_context(test_certs.server_cert, test_certs.server_key)).start()
    server = LiveServer(settings.public_url, app, settings, ManualClock(), client_ssl_context(test_certs.ca_cert))
    relay = app[relay_key]
    doctor, patient, doc_sock, pat_sock, _, doc_id, pat_id = await _admitted_pair(server)
    doc, pat = Side(doc_sock), Side(pat_sock)
    try:
        await doc_sock.call("enter")
        assert (await pat_sock.call("enter"))["ok"]
        assert (await pat_sock.call("join", {"instance": "pat-1"}))["media"]["relay"] == "always"
        assert (await doc.publish(pat_id))["ok"] and (await pat.subscribe(doc_id))["ok"]
        assert len(relay) == 2
    finally:
        await runner.cleanup()  # server shutdown: sockets, then every server-side peer
        assert len(relay) == 0 and len(relay._peers) == 0
        for side in (doc, pat):
            await side.close()
        for sock in (doc_sock, pat_sock):
            await sock.close()
        await doctor.session.close()
        await patient.session.close()
