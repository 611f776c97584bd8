"""The live path in process: an aiortc 'phone' publishes to the real server over HTTP, the regulator captures,
closing the case leaves no server-side peer behind."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from PIL import Image

from server.keys import live_key
from tests.fakes import Browser, make_user, open_link
from tests.media.test_peers import QUADRANTS, QuadrantTrack


async def _open_case(live_server: Any, regulator: Browser, phone: Browser, number: str) -> str:
    """The regulator opens a case and the phone opens its caller link (keeping the caller page's CSRF token)."""
    await regulator.login("regulateur")
    created = await (await regulator.api("POST", "/api/cases", json={
        "case_number": number, "caller_phone": "+33600000000", "reason": ""})).json()
    case_id, link = created["case"]["id"], created["link"]["url"]
    await open_link(phone, link)
    phone.csrf = re.search(r'"csrf":\s*"([^"]+)"', await (await phone.session.get("/caller")).text()).group(1)  # type: ignore[union-attr]
    return str(case_id)


async def _stream_from_phone(phone: Browser) -> RTCPeerConnection:
    """An aiortc 'phone' publishing the quadrant pattern to the server (the test closes it)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(QuadrantTrack())
    await pc.setLocalDescription(await pc.createOffer())
    answer = await phone.api("POST", "/api/caller/offer", json={"sdp": pc.localDescription.sdp})
    assert answer.status == 200
    await pc.setRemoteDescription(RTCSessionDescription((await answer.json())["sdp"], "answer"))
    return pc


async def test_publish_capture_and_close_leaves_no_peer(live_server: Any) -> None:
    await make_user(live_server, "regulateur", role="regulator")
    async with Browser(live_server) as regulator, Browser(live_server) as phone:
        case_id = await _open_case(live_server, regulator, phone, "LIVE-1")

        nothing = await regulator.api("POST", f"/api/cases/{case_id}/capture")
        assert nothing.status == 404  # not streaming yet: a clear error, not a crash

        pc = await _stream_from_phone(phone)

        capture = None
        for _ in range(80):
            response = await regulator.api("POST", f"/api/cases/{case_id}/capture")
            if response.status == 201:
                capture = await response.json()
                break
            await asyncio.sleep(0.1)
        assert capture is not None
        image = await regulator.api("GET", f"/api/cases/{case_id}/captures/{capture['id']}.jpg")
        picture = Image.open(io.BytesIO(await image.read())).convert("RGB")
        for (qx, qy), colour in QUADRANTS.items():
            pixel = picture.getpixel((qx * 320 + 160, qy * 240 + 120))
            assert all(abs(a - b) <= 40 for a, b in zip(pixel, colour, strict=True))

        bad = await phone.api("POST", "/api/caller/offer", json={"sdp": "v=0\r\n" + "x" * 60_000})
        assert bad.status in (400, 413)
        live = live_server.app[live_key]
        assert live.sources() == 1
        assert (await regulator.api("POST", f"/api/cases/{case_id}/close")).status == 200
        assert live.sources() == 0 and live.peer_count() == 0
        await pc.close()


async def test_the_caller_closing_its_connection_ends_the_stream_in_the_timeline(live_server: Any) -> None:
    await make_user(live_server, "regulateur", role="regulator")
    async with Browser(live_server) as regulator, Browser(live_server) as phone:
        case_id = await _open_case(live_server, regulator, phone, "LIVE-2")
        pc = await _stream_from_phone(phone)
        captured = await regulator.api("POST", f"/api/cases/{case_id}/capture")
        assert captured.status == 201  # decoded on demand from the forwarded stream
        await pc.close()  # the phone stops sharing (RTCP BYE, then the connection closes)
        kinds: list[str] = []
        for _ in range(100):
            timeline = await (await regulator.api("GET", f"/api/cases/{case_id}/timeline")).json()
            kinds = [event["kind"] for event in timeline["events"]]
            if "stream.stopped" in kinds:
                break
            await asyncio.sleep(0.1)
        assert kinds.index("stream.started") < kinds.index("stream.stopped"), kinds
        live = live_server.app[live_key]
        assert live.sources() == 0  # the source ended with the caller


async def test_viewers_that_leave_are_forgotten_and_a_closed_case_leaves_no_state(live_server: Any) -> None:
    await make_user(live_server, "regulateur", role="regulator")
    async with Browser(live_server) as regulator, Browser(live_server) as phone:
        case_id = await _open_case(live_server, regulator, phone, "LIVE-3")
        caller = await _stream_from_phone(phone)
        live = live_server.app[live_key]
        for _ in range(100):
            if live.sources() == 1:
                break
            await asyncio.sleep(0.05)

        # Viewers come and go during a long case: each one's entry goes with its peer.
        for _ in range(3):
            viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            viewer.addTransceiver("video", direction="recvonly")
            await viewer.setLocalDescription(await viewer.createOffer())
            watched = await regulator.api("POST", f"/api/cases/{case_id}/watch", json={"sdp": viewer.localDescription.sdp})
            assert watched.status == 200
            await viewer.setRemoteDescription(RTCSessionDescription((await watched.json())["sdp"], "answer"))
            assert live.viewer_count(case_id) == 1
            await viewer.close()
            # A viewer that goes away is noticed when its connection fails (aioice's consent checks take about
            # 30 s); the registry then closes the peer, as done here directly.
            registry = live._peers
            for peer_id in [p for p in registry.peer_ids() if p.startswith(f"viewer:{case_id}:")]:
                await registry.close(peer_id)
            assert live.viewer_count(case_id) == 0
        assert live.peer_count() == 1  # the caller only

        assert (await regulator.api("POST", f"/api/cases/{case_id}/close")).status == 200
        assert live.cases_held() == 0 and live.peer_count() == 0 and live.sources() == 0
        await caller.close()
