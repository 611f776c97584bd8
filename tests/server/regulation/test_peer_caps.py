"""Issue #9 High 4: one professional cannot take every server-side peer. Viewers are capped per professional,
per case and per process (with room kept for callers); refusals are 429 / 503 with Retry-After; watching again
replaces the viewer's previous peer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import ConfigError, LimitSettings
from server.keys import live_key
from server.platform.db import SessionFactory
from tests.conftest import LiveServer, free_port, make_settings, serve
from tests.fakes import Browser, make_user, open_link
from tests.media.test_peers import QuadrantTrack

CAPS = LimitSettings(max_server_peers=8, server_peers_for_publishers=3, max_viewers_per_member=2,
                     max_viewers_per_case=2, peer_retry_after_s=7)


@pytest.fixture
async def capped_server(db: tuple[AsyncEngine, SessionFactory], database_url: str,
                        test_certs: object) -> AsyncIterator[LiveServer]:
    async with serve(make_settings(database_url, free_port(), limits=CAPS), test_certs) as server:
        yield server


class Offers:
    """One phone offer and one viewer offer, reused for every request (the server answers each on its own peer;
    nothing needs to connect for the caps to count)."""

    def __init__(self) -> None:
        self.phone = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))

    async def __aenter__(self) -> Offers:
        self.phone.addTrack(QuadrantTrack())
        await self.phone.setLocalDescription(await self.phone.createOffer())
        self.viewer.addTransceiver("video", direction="recvonly")
        await self.viewer.setLocalDescription(await self.viewer.createOffer())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.phone.close()
        await self.viewer.close()

    @property
    def phone_sdp(self) -> str:
        return str(self.phone.localDescription.sdp)

    @property
    def viewer_sdp(self) -> str:
        return str(self.viewer.localDescription.sdp)


async def _caller_of_new_case(server: Any, regulator: Browser, number: str) -> tuple[str, Browser]:
    created = await (await regulator.api("POST", "/api/cases", json={
        "case_number": number, "caller_phone": "+33600000000", "reason": ""})).json()
    phone = Browser(server)
    await open_link(phone, created["link"]["url"])
    page = await (await phone.session.get("/caller")).text()
    phone.csrf = re.search(r'"csrf":\s*"([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return str(created["case"]["id"]), phone


async def _streaming_cases(server: Any, regulator: Browser, offers: Offers, count: int) -> list[str]:
    """``count`` cases whose callers published (the server's source exists once their offer is answered)."""
    cases = []
    for index in range(count):
        case_id, phone = await _caller_of_new_case(server, regulator, f"CAP-{index}")
        async with phone:
            assert (await phone.api("POST", "/api/caller/offer", json={"sdp": offers.phone_sdp})).status == 200
        cases.append(case_id)
    live = server.app[live_key]
    async with asyncio.timeout(5):
        while live.sources() < count:
            await asyncio.sleep(0.02)
    return cases


def _viewer_peers(server: Any, case_id: str | None = None) -> list[str]:
    prefix = f"viewer:{case_id}:" if case_id else "viewer:"
    return [peer for peer in server.app[live_key]._peers.peer_ids() if peer.startswith(prefix)]


async def _refused(response: Any, status: int, code: str) -> str:
    assert response.status == status, await response.text()
    assert response.headers["Retry-After"] == "7"
    body = await response.json()
    assert body["error"] == code
    return str(body["message"])


async def test_one_regulators_flood_of_watches_is_capped_and_callers_still_get_in(capped_server: Any) -> None:
    await make_user(capped_server, "regulateur", role="regulator")
    async with Browser(capped_server) as regulator, Offers() as offers:
        await regulator.login("regulateur")
        first, second, third = await _streaming_cases(capped_server, regulator, offers, 3)

        # Watching the same case again replaces the viewer's peer instead of adding one.
        for _ in range(5):
            assert (await regulator.api("POST", f"/api/cases/{first}/watch", json={"sdp": offers.viewer_sdp})).status == 200
        assert len(_viewer_peers(capped_server, first)) == 1
        assert capped_server.app[live_key].viewer_count(first) == 1

        # 63 watches at once over three cases: never more than the professional's two viewer peers.
        flood = await asyncio.gather(*(
            regulator.api("POST", f"/api/cases/{case}/watch", json={"sdp": offers.viewer_sdp})
            for case in [first, second, third] * 21))
        statuses = [response.status for response in flood]
        assert set(statuses) <= {200, 409, 429}, statuses
        limited = [response for response in flood if response.status == 429]
        assert limited, statuses
        message = await _refused(limited[0], 429, "rate_limited")
        assert "watch" in message
        assert len(_viewer_peers(capped_server)) <= 2

        # Another case's caller still publishes.
        fresh, phone = await _caller_of_new_case(capped_server, regulator, "CAP-NEW")
        async with phone:
            offered = await phone.api("POST", "/api/caller/offer", json={"sdp": offers.phone_sdp})
            assert offered.status == 200, await offered.text()


async def test_a_case_has_a_limited_number_of_viewers(capped_server: Any) -> None:
    await make_user(capped_server, "regulateur", role="regulator")
    async with Browser(capped_server) as regulator, Offers() as offers:
        await regulator.login("regulateur")
        (case_id,) = await _streaming_cases(capped_server, regulator, offers, 1)
        colleagues = []
        for name in ("medecin1", "medecin2"):
            await make_user(capped_server, name, role="regulator")
            assert (await regulator.api("POST", f"/api/cases/{case_id}/members", json={"username": name})).status == 200
            colleague = Browser(capped_server)
            await colleague.login(name)
            colleagues.append(colleague)
        try:
            for viewer in (regulator, colleagues[0]):
                assert (await viewer.api("POST", f"/api/cases/{case_id}/watch", json={"sdp": offers.viewer_sdp})).status == 200
            third = await colleagues[1].api("POST", f"/api/cases/{case_id}/watch", json={"sdp": offers.viewer_sdp})
            assert "watch this video" in await _refused(third, 429, "rate_limited")
            assert len(_viewer_peers(capped_server, case_id)) == 2
        finally:
            for colleague in colleagues:
                await colleague.session.close()


async def test_the_process_cap_refuses_clearly_and_keeps_room_for_callers(capped_server: Any) -> None:
    await make_user(capped_server, "regulateur", role="regulator")
    live = capped_server.app[live_key]
    async with Browser(capped_server) as regulator, Offers() as offers:
        await regulator.login("regulateur")
        cases = await _streaming_cases(capped_server, regulator, offers, 3)
        viewers = []
        try:
            # 3 callers + 2 viewers = 5 = 8 peers - 3 kept for callers: the next viewer is refused, server-wide.
            for index, case_id in enumerate(cases):
                viewer = Browser(capped_server)
                viewers.append(viewer)
                await make_user(capped_server, f"medecin{index}", role="regulator")
                await regulator.api("POST", f"/api/cases/{case_id}/members", json={"username": f"medecin{index}"})
                await viewer.login(f"medecin{index}")
                watched = await viewer.api("POST", f"/api/cases/{case_id}/watch", json={"sdp": offers.viewer_sdp})
                if index < 2:
                    assert watched.status == 200, await watched.text()
                else:
                    assert "try again" in await _refused(watched, 503, "busy")
            assert live.peer_count() == 5

            # Callers still get in, into the room kept for them, until the process is full.
            for index, number in enumerate(("CAP-A", "CAP-B", "CAP-C", "CAP-D")):
                _, phone = await _caller_of_new_case(capped_server, regulator, number)
                async with phone:
                    offered = await phone.api("POST", "/api/caller/offer", json={"sdp": offers.phone_sdp})
                    if index < 3:
                        assert offered.status == 200, await offered.text()
                    else:
                        assert "try again" in await _refused(offered, 503, "busy")
            assert live.peer_count() == 8
        finally:
            for viewer in viewers:
                await viewer.session.close()


def test_peer_caps_are_checked_at_start_up(tmp_path: Any) -> None:
    for bad in (LimitSettings(max_server_peers=4, server_peers_for_publishers=4), LimitSettings(max_viewers_per_case=0)):
        with pytest.raises(ConfigError, match="server-peer|server_peers_for_publishers"):
            make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", free_port(), limits=bad)
