"""Catalogue §4b 2: media killed during a regulator's live view. Modelled in process as the server's peers of
the case closed abruptly (the registry closes the caller's peer, as when its connection fails): the regulator's
view ends (its page shows the stream stopped and watches again on the next stream.started), acknowledged
captures stay listed and downloadable, a capture in flight either is committed or fails at once with a clear
409, and the caller re-offers on the same link and session."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media import LatestFrame
from server.keys import live_key
from tests.fakes import Browser, make_user
from tests.media.test_peers import QuadrantTrack
from tests.server.regulation.test_live import _open_case, _stream_from_phone


class Viewer:
    """The regulator's page: watches the case through the server."""

    def __init__(self, regulator: Browser, case_id: str) -> None:
        self.regulator, self.case_id = regulator, case_id
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.video = LatestFrame()
        self._tasks: list[asyncio.Task[None]] = []

    async def watch(self) -> None:
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.create_task(self.video.consume(track)))

        self.pc.on("track", on_track)
        self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        watched = await self.regulator.api("POST", f"/api/cases/{self.case_id}/watch",
                                           json={"sdp": self.pc.localDescription.sdp})
        assert watched.status == 200, await watched.text()
        await self.pc.setRemoteDescription(RTCSessionDescription((await watched.json())["sdp"], "answer"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


async def _wait_for(condition: Any, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


async def _capture(regulator: Browser, case_id: str) -> Any:
    return await regulator.api("POST", f"/api/cases/{case_id}/capture")


async def _kill_media(live_server: Any, case_id: str) -> None:
    await live_server.app[live_key]._peers.close(f"caller:{case_id}")


async def test_media_killed_during_a_live_view(live_server: Any) -> None:
    await make_user(live_server, "regulateur", role="regulator")
    live = live_server.app[live_key]
    async with Browser(live_server) as regulator, Browser(live_server) as phone:
        case_id = await _open_case(live_server, regulator, phone, "KILL-1")
        caller = await _stream_from_phone(phone)
        viewer = Viewer(regulator, case_id)
        again: list[Any] = []
        try:
            await viewer.watch()
            await viewer.video.wait_first(timeout_s=10)
            acknowledged = await _capture(regulator, case_id)
            assert acknowledged.status == 201
            kept = await acknowledged.json()

            # A capture racing the kill: committed (listed) or refused clearly, never a 500 or a hang.
            racing = asyncio.create_task(_capture(regulator, case_id))
            await _kill_media(live_server, case_id)
            raced = await asyncio.wait_for(racing, 6)
            assert raced.status in (201, 404, 409), await raced.text()  # 404: it arrived after the kill

            # The regulator's view ends with the stream (its page then waits for the next stream.started).
            await _wait_for(lambda: live.viewer_count(case_id) == 0 and live.sources() == 0)
            await _wait_for(lambda: viewer.pc.connectionState in ("closed", "failed"))
            timeline = await (await regulator.api("GET", f"/api/cases/{case_id}/timeline")).json()
            assert "stream.stopped" in [event["kind"] for event in timeline["events"]]
            assert (await _capture(regulator, case_id)).status == 404  # "the caller is not streaming"

            # Acknowledged captures are still listed and downloadable, byte for byte what was acknowledged.
            listed = await (await regulator.api("GET", f"/api/cases/{case_id}/captures")).json()
            ids = [capture["id"] for capture in listed["captures"]]
            assert kept["id"] in ids
            if raced.status == 201:
                assert (await raced.json())["id"] in ids
            image = await regulator.api("GET", f"/api/cases/{case_id}/captures/{kept['id']}.jpg")
            assert image.status == 200 and hashlib.sha256(await image.read()).hexdigest() == kept["sha256"]

            # The caller's link and session still work: it offers again and the regulator watches again.
            await caller.close()
            caller = await _stream_from_phone(phone)
            await _wait_for(lambda: live.sources() == 1)
            again.append(Viewer(regulator, case_id))
            await again[0].watch()
            await again[0].video.wait_first(timeout_s=10)
            assert (await _capture(regulator, case_id)).status == 201
        finally:
            for each in (viewer, *again):
                await each.close()
            await caller.close()


async def test_a_capture_waiting_for_a_frame_fails_at_once_when_the_media_dies(live_server: Any) -> None:
    await make_user(live_server, "regulateur", role="regulator")
    live = live_server.app[live_key]
    async with Browser(live_server) as regulator, Browser(live_server) as phone:
        case_id = await _open_case(live_server, regulator, phone, "KILL-2")
        # The phone's offer is answered (the server's source exists) but no frame ever arrives: a capture waits.
        silent = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        silent.addTrack(QuadrantTrack())
        await silent.setLocalDescription(await silent.createOffer())
        try:
            assert (await phone.api("POST", "/api/caller/offer", json={"sdp": silent.localDescription.sdp})).status == 200
            await _wait_for(lambda: live.sources() == 1)
            waiting = asyncio.create_task(_capture(regulator, case_id))
            await asyncio.sleep(0.3)  # the capture is now waiting for a keyframe
            assert not waiting.done()
            started = time.monotonic()
            await _kill_media(live_server, case_id)
            refused = await asyncio.wait_for(waiting, 6)
            assert time.monotonic() - started < 2  # not the whole capture timeout
            assert refused.status == 409
            body = await refused.json()
            assert body["error"] == "conflict" and "stopped" in body["message"] and "nothing was saved" in body["message"]
            listed = await (await regulator.api("GET", f"/api/cases/{case_id}/captures")).json()
            assert listed["captures"] == []
            # The same caller session offers again and is answered.
            assert (await phone.api("POST", "/api/caller/offer", json={"sdp": silent.localDescription.sdp})).status == 200
        finally:
            await silent.close()
