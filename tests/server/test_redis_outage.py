"""Catalogue §4b 4: Redis goes down under two server processes, then comes back.

A private redis-server (never the machine's) carries the socket.io messages between two real server processes
sharing PostgreSQL. While it is down, a chat message is still saved (cross-process delivery of that event is lost
by design) and the chat history route returns it; once Redis is back, every process is subscribed again
(``PUBSUB NUMSUB`` on the socket.io channel equals the number of processes; python-socketio issue #1581) and a
cross-process event gets through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from server.platform.tls import client_ssl_context
from tests.fakes import Browser, SocketPeer, join_as_patient, new_consultation
from tests.private_services import PrivateRedis, redis_binary
from tests.server.teleconsultation.test_crash_recovery import _prepare, _start, _stop
from tests.server.test_multiprocess import cluster_env  # noqa: F401 (fixture)

CHANNEL = "socketio"


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(redis_binary()).start()
    try:
        yield server
    finally:
        server.stop()


async def _subscribers(url: str) -> int:
    client = aioredis.from_url(url)
    try:
        return int(dict(await client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0))
    finally:
        await client.aclose()


async def _wait_subscribers(url: str, expected: int, timeout: float) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    count = -1
    while asyncio.get_running_loop().time() < deadline:
        try:
            count = await _subscribers(url)
        except (OSError, aioredis.ConnectionError):
            count = -1
        if count == expected:
            return count
        await asyncio.sleep(0.1)
    return count


async def test_after_a_redis_outage_every_process_listens_again_and_nothing_saved_is_lost(
        cluster_env: dict[str, str], private_redis: PrivateRedis, test_certs: Any) -> None:
    env = {**cluster_env, "LUCARNE_REDIS_URL": private_redis.url}
    await _prepare(env)
    ssl_context = client_ssl_context(test_certs.ca_cert)
    nodes = [await _start(env, port, ssl_context) for port in env["PORTS"].split(",")]
    first, second = nodes
    try:
        async with Browser(first) as doctor:
            assert (await doctor.login()).status == 303
            created = await new_consultation(doctor)
            cid = created["consultation"]["id"]
            patient = await join_as_patient(second, second.url + created["link"]["url"].split(first.url, 1)[1])
            doc, pat = await SocketPeer.connect(doctor), await SocketPeer.connect(patient)
            try:
                # Each process subscribes when its first socket connects.
                assert await _wait_subscribers(private_redis.url, 2, 10) == 2
                await doc.call("join", {"consultation": cid})
                me = (await pat.call("join", {}))["me"]
                await pat.call("ready")
                assert (await doc.call("admit", {"participant": me}))["ok"]
                await doc.call("enter")
                await pat.call("enter")
                assert (await pat.call("chat", {"text": "avant"}))["ok"]
                assert (await doc.next("chat"))["text"] == "avant"  # through Redis

                private_redis.stop()
                during = await pat.call("chat", {"text": "pendant"})
                assert during["ok"], during  # saved in the database even though Redis cannot carry it
                private_redis.start()

                assert await _wait_subscribers(private_redis.url, 2, 15) == 2
                history = await (await doctor.api("GET", f"/api/consultations/{cid}/chat")).json()
                assert [m["text"] for m in history["messages"]] == ["avant", "pendant"]  # re-fetched
                assert (await pat.call("chat", {"text": "après"}))["ok"]
                assert (await doc.next("chat"))["text"] == "après"  # cross-process again
            finally:
                await doc.close()
                await pat.close()
                await patient.session.close()
    finally:
        _stop(nodes)
