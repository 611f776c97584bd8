"""An open socket lives no longer than the session it was opened with (issue #9 High 1, catalogue §4d 6).

Logout, account deactivation and expiry each end a session; its open ``/call`` and ``/expertise`` sockets must then
refuse the next event and be closed within one second, in every server process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import socketio
from aiohttp import web

from server.app import create_app
from server.config import Settings
from server.identity import socket_sessions
from server.identity.deactivation import deactivate_account
from server.keys import accounts_key, audit_key, consultations_key, socket_sessions_key, web_sessions_key
from server.platform.clock import ManualClock
from server.platform.errors import NotFound
from server.platform.tls import client_ssl_context, server_ssl_context
from server.teleconsultation.calls import cookie_token
from tests.conftest import REDIS_URL, free_port, make_settings, require_service
from tests.fakes import (
    Browser,
    SocketPeer,
    join_as_patient,
    make_user,
    new_consultation,
)
from tests.server.test_cli import ROOT, lucarne


async def _practitioner(server: Any, username: str = "drhouse") -> Browser:
    await make_user(server, username)
    browser = Browser(server)
    assert (await browser.login(username)).status == 303
    return browser


async def _expertise_socket(browser: Browser) -> socketio.AsyncClient:
    client = socketio.AsyncClient(http_session=browser.session, reconnection=False)
    await client.connect(browser.server.url, namespaces=["/expertise"], transports=["websocket"],
                         headers={"Cookie": browser.cookie_header(), "Origin": browser.server.url},
                         wait_timeout=10)
    return client


async def _closed_within(client: socketio.AsyncClient, namespace: str, seconds: float) -> float:
    """How long until the server closed the client's namespace; fails after ``seconds``."""
    start = time.monotonic()
    while namespace in client.namespaces:
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{namespace} socket still open {seconds} s after its session ended")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


class _Room:
    """A practitioner in a consultation's waiting room, with a patient in it."""

    def __init__(self, doctor: Browser, patient: Browser, doc_sock: SocketPeer, pat_sock: SocketPeer,
                 patient_id: str) -> None:
        self.doctor, self.patient, self.doc_sock, self.pat_sock = doctor, patient, doc_sock, pat_sock
        self.patient_id = patient_id

    async def close(self) -> None:
        for sock in (self.doc_sock, self.pat_sock):
            await sock.close()
        await self.doctor.session.close()
        await self.patient.session.close()


async def _waiting_room(server: Any) -> _Room:
    doctor = await _practitioner(server)
    created = await new_consultation(doctor)
    patient = await join_as_patient(server, created["link"]["url"])
    doc_sock, pat_sock = await SocketPeer.connect(doctor), await SocketPeer.connect(patient)
    assert (await doc_sock.call("join", {"consultation": created["consultation"]["id"], "instance": "d"}))["ok"]
    patient_id = (await pat_sock.call("join", {"instance": "p"}))["me"]
    assert (await pat_sock.call("ready"))["state"] == "waiting"
    room = await doc_sock.next("waiting-room")
    while not any(p["state"] == "waiting" for p in room["participants"]):
        room = await doc_sock.next("waiting-room")
    return _Room(doctor, patient, doc_sock, pat_sock, patient_id)


async def _assert_no_more_waiting_room_events(room: _Room) -> None:
    """The patient leaves and comes back: the practitioner's old socket must hear nothing of it."""
    while not room.doc_sock.received.empty():
        room.doc_sock.received.get_nowait()
    await room.pat_sock.call("leave")
    await room.pat_sock.call("ready")
    with pytest.raises(TimeoutError):
        await room.doc_sock.next("waiting-room", timeout=0.3)


async def test_logout_closes_the_sessions_call_and_expertise_sockets_at_once(live_server: Any) -> None:
    room = await _waiting_room(live_server)
    expertise = await _expertise_socket(room.doctor)
    try:
        logout = await room.doctor.api("POST", "/logout", allow_redirects=False)
        assert logout.status == 303
        await _closed_within(room.doc_sock.client, "/call", 1.0)
        await _closed_within(expertise, "/expertise", 1.0)
        await _assert_no_more_waiting_room_events(room)
        assert (await room.doctor.api("GET", "/api/consultations")).status == 401
    finally:
        await expertise.disconnect()
        await room.close()


async def test_expired_session_next_event_is_refused_and_its_sockets_closed(live_server: Any) -> None:
    room = await _waiting_room(live_server)
    expertise = await _expertise_socket(room.doctor)
    try:
        live_server.clock.advance(seconds=live_server.settings.session_ttl_s + 1)
        # The very next event, before any sweep could run: refused by the per-event check.
        refused = await room.doc_sock.call("admit", {"participant": room.patient_id})
        assert refused["ok"] is False and refused["error"] == "unauthorized", refused
        await _closed_within(room.doc_sock.client, "/call", 1.0)
        await _closed_within(expertise, "/expertise", 1.0)  # an idle socket: closed by the sweep
        await _closed_within(room.pat_sock.client, "/call", 1.0)  # the patient's session expired as well
        assert (await room.doctor.api("GET", "/api/consultations")).status == 401
    finally:
        await expertise.disconnect()
        await room.close()


async def test_expired_session_refused_on_the_signal_fast_path(live_server: Any) -> None:
    room = await _waiting_room(live_server)
    try:
        live_server.clock.advance(seconds=live_server.settings.session_ttl_s + 1)
        refused = await room.doc_sock.call("signal", {"to": room.patient_id, "data": {"restartRequest": True}})
        assert refused["ok"] is False and refused["error"] == "unauthorized", refused
        await _closed_within(room.doc_sock.client, "/call", 1.0)
    finally:
        await room.close()


async def test_4d6_deactivation_closes_open_sockets_and_they_stop_receiving_events(live_server: Any) -> None:
    """§4d 6: deactivation terminates live sessions and WebSocket connections (the service call, in-process)."""
    room = await _waiting_room(live_server)
    expertise = await _expertise_socket(room.doctor)
    app = live_server.app
    try:
        done = await deactivate_account(app[accounts_key], app[web_sessions_key], app[audit_key],
                                        app[socket_sessions_key].end, "drhouse", actor="admin-test",
                                        actor_role="admin")
        assert done.sessions_revoked == 1
        await _closed_within(room.doc_sock.client, "/call", 1.0)
        await _closed_within(expertise, "/expertise", 1.0)
        await _assert_no_more_waiting_room_events(room)
        assert (await room.doctor.api("GET", "/api/consultations")).status == 401
        async with Browser(live_server) as again:
            assert (await again.login()).status == 401
        with pytest.raises(NotFound):
            await deactivate_account(app[accounts_key], app[web_sessions_key], app[audit_key],
                                     app[socket_sessions_key].end, "nobody", actor="admin-test", actor_role="admin")
    finally:
        await expertise.disconnect()
        await room.close()


async def test_4d6_deactivate_user_command_closes_a_running_servers_sockets(live_server: Any, database_url: str,
                                                                          tmp_path: Any) -> None:
    """§4d 6 from another process and without a message queue: the server's sweep finds the revoked session."""
    room = await _waiting_room(live_server)
    try:
        result = await asyncio.to_thread(lucarne, ["deactivate-user", "drhouse"], database_url, tmp_path)
        assert result.returncode == 0, result.stderr
        assert b"1 session(s) ended" in result.stdout
        await _closed_within(room.doc_sock.client, "/call", 1.0)
        await _assert_no_more_waiting_room_events(room)
    finally:
        await room.close()


async def test_revoked_session_cannot_open_a_new_socket(live_server: Any) -> None:
    doctor = await _practitioner(live_server)
    cookie = doctor.cookie_header()
    try:
        await doctor.api("POST", "/logout", allow_redirects=False)
        client = socketio.AsyncClient(reconnection=False, ssl_verify=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(live_server.url, namespaces=["/call"], transports=["websocket"],
                                 headers={"Cookie": cookie, "Origin": live_server.url}, wait_timeout=5)
        await client.disconnect()
    finally:
        await doctor.session.close()


# -- two server nodes in this process, sharing the database and Redis (each its own socket.io manager) ----------
@dataclass
class _Node:
    url: str
    app: web.Application
    settings: Settings
    clock: ManualClock
    client_ssl: Any


@pytest.fixture
async def two_nodes(db: Any, database_url: str, test_certs: Any,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[_Node]]:
    redis_url = require_service(REDIS_URL, "Redis")
    # No sweep within the test: only the Redis notice can close the other node's sockets in time.
    monkeypatch.setattr(socket_sessions, "SWEEP_S", 60.0)
    ports = [free_port(), free_port()]
    shared = {"secret_key": secrets.token_bytes(48), "master_key": secrets.token_bytes(32)}
    origins = tuple(f"https://localhost:{port}" for port in ports)
    nodes, runners = [], []
    try:
        for port in ports:
            settings = make_settings(database_url, port, redis_url=redis_url, allowed_origins=origins, **shared)
            clock = ManualClock()
            app = create_app(settings, clock=clock)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl_context(
                test_certs.server_cert, test_certs.server_key)).start()
            nodes.append(_Node(settings.public_url, app, settings, clock, client_ssl_context(test_certs.ca_cert)))
        await asyncio.sleep(0.2)  # both nodes subscribed to the notices
        yield nodes
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_logout_on_one_node_closes_the_sessions_socket_on_another_through_redis(
        two_nodes: list[_Node]) -> None:
    first, second = two_nodes
    await make_user(first)
    async with Browser(first) as doctor:
        assert (await doctor.login()).status == 303
        created = await new_consultation(doctor)
        on_second = await SocketPeer.connect(doctor, url=second.url)  # same session, the other process
        try:
            joined = await on_second.call("join", {"consultation": created["consultation"]["id"], "instance": "d"})
            assert joined["ok"], joined
            assert (await doctor.api("POST", "/logout", allow_redirects=False)).status == 303
            await _closed_within(on_second.client, "/call", 1.0)
        finally:
            await on_second.close()


async def test_consultation_end_on_one_node_stops_signaling_on_another(two_nodes: list[_Node]) -> None:
    """Issue #9 Medium 7 across processes: the practitioner's node forgets its cached routes at the end (the
    patient's socket, on the node that ended the consultation, is closed there and cannot tell the other)."""
    first, second = two_nodes
    await make_user(first)
    async with Browser(first) as doctor:
        await doctor.login()
        created = await new_consultation(doctor)
        cid = created["consultation"]["id"]
        patient = await join_as_patient(first, created["link"]["url"])
        doc_sock, pat_sock = await SocketPeer.connect(doctor, url=second.url), await SocketPeer.connect(patient)
        try:
            await doc_sock.call("join", {"consultation": cid, "instance": "d"})
            pat_id = (await pat_sock.call("join", {"instance": "p"}))["me"]
            await pat_sock.call("ready")
            assert (await doc_sock.call("admit", {"participant": pat_id}))["ok"]
            restart = {"to": pat_id, "data": {"restartRequest": True}}
            assert (await doc_sock.call("signal", restart))["ok"]  # the route is now cached on the second node
            assert (await doctor.api("POST", f"/api/consultations/{cid}/end", json={})).status == 200
            await _closed_within(pat_sock.client, "/call", 1.0)
            refused = await doc_sock.call("signal", restart)
            assert refused["ok"] is False and refused["error"] == "forbidden", refused
        finally:
            await doc_sock.close()
            await pat_sock.close()
            await patient.session.close()


async def test_the_batch_check_agrees_with_resolve(live_server: Any) -> None:
    """WebSessions.live (the sweep's and the per-event check's source) accepts exactly what resolve accepts."""
    web_sessions = live_server.app[web_sessions_key]
    doctor = await _practitioner(live_server)
    other = await _practitioner(live_server, "drwho")
    created = await new_consultation(doctor)
    patient = await join_as_patient(live_server, created["link"]["url"])
    try:
        tokens = {name: cookie_token(b.cookie_header()) for name, b in
                  (("doctor", doctor), ("other", other), ("patient", patient))}

        async def agree() -> dict[str, bool]:
            principals = {name: await web_sessions.resolve(token) for name, token in tokens.items()}
            live = await web_sessions.live([p.session_hash for p in principals.values() if p is not None] + ["0" * 64])
            for principal in principals.values():
                if principal is not None:
                    assert principal.session_hash in live
            assert len(live) == sum(p is not None for p in principals.values())
            return {name: p is not None for name, p in principals.items()}

        assert await agree() == {"doctor": True, "other": True, "patient": True}
        await live_server.app[accounts_key].deactivate("drwho")
        principal = await web_sessions.resolve(tokens["doctor"])
        assert principal is not None
        await live_server.app[consultations_key].end(principal, created["consultation"]["id"], None)
        assert await agree() == {"doctor": True, "other": False, "patient": False}
        live_server.clock.advance(seconds=live_server.settings.session_ttl_s + 1)
        assert await agree() == {"doctor": False, "other": False, "patient": False}
    finally:
        for browser in (doctor, other, patient):
            await browser.session.close()


async def test_4d6_deactivate_user_command_notifies_every_node_through_redis(two_nodes: list[_Node],
                                                                           database_url: str, tmp_path: Any) -> None:
    """§4d 6 with a message queue: the command publishes the ended sessions; no sweep runs on the nodes here."""
    first, second = two_nodes
    await make_user(first)
    async with Browser(first) as doctor:
        assert (await doctor.login()).status == 303
        sockets = [await SocketPeer.connect(doctor), await SocketPeer.connect(doctor, url=second.url)]
        try:
            env = {**os.environ, "LUCARNE_DATABASE_URL": database_url, "LUCARNE_REDIS_URL": REDIS_URL,
                   "LUCARNE_VAR_DIR": str(tmp_path / "var")}
            result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "server", "deactivate-user",
                                                              "drhouse"], env=env, cwd=ROOT, capture_output=True,
                                             timeout=60)
            assert result.returncode == 0, result.stderr
            for sock in sockets:
                await _closed_within(sock.client, "/call", 1.0)
        finally:
            for sock in sockets:
                await sock.close()
