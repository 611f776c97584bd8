"""Malformed SDP over HTTP (issue #9 Medium 12): the caller's offer and a professional's watch refuse every offer
of the corpus with a clear 400 (413 past the request size), leave no server-side peer, and the server keeps
answering valid offers."""

from __future__ import annotations

import asyncio
from typing import Any

from server.keys import live_key
from tests.fakes import Browser, make_user
from tests.media.sdp_corpus import corpus
from tests.server.regulation.test_peer_caps import Offers, _caller_of_new_case

_TOO_LARGE = {"1 MB", "10k candidates"}  # larger than the 64 KiB request limit: refused before it is read


async def _refused_clearly(response: Any, name: str) -> None:
    expected = 413 if name in _TOO_LARGE else 400
    assert response.status == expected, (name, response.status, await response.text())
    body = await response.json()
    assert body["error"] in ("invalid", "request_entity_too_large") and body["message"], (name, body)
    assert "internal" not in body["error"]


async def test_the_caller_offer_refuses_malformed_sdp_and_keeps_serving(live_server: Any) -> None:
    await make_user(live_server, "regulateur", role="regulator")
    live = live_server.app[live_key]
    async with Browser(live_server) as regulator, Offers() as offers:
        await regulator.login("regulateur")
        case_id, phone = await _caller_of_new_case(live_server, regulator, "SDP-1")
        async with phone:
            for name, sdp in corpus(offers.phone_sdp).items():
                await _refused_clearly(await phone.api("POST", "/api/caller/offer", json={"sdp": sdp}), name)
                assert live.peer_count() == 0, name
            raw = await phone.api("POST", "/api/caller/offer", data=b'{"sdp": "v=0\r\n\xff\xfe"}',
                                  headers={"Content-Type": "application/json"})
            assert raw.status == 400  # bytes that are not UTF-8 at all
            offered = await phone.api("POST", "/api/caller/offer", json={"sdp": offers.phone_sdp})
            assert offered.status == 200 and live.peer_count() == 1
            async with asyncio.timeout(5):
                while live.sources() < 1:
                    await asyncio.sleep(0.02)

        for name, sdp in corpus(offers.viewer_sdp).items():
            watched = await regulator.api("POST", f"/api/cases/{case_id}/watch", json={"sdp": sdp})
            await _refused_clearly(watched, name)
            assert live.peer_count() == 1 and live.viewer_count(case_id) == 0, name
        watched = await regulator.api("POST", f"/api/cases/{case_id}/watch", json={"sdp": offers.viewer_sdp})
        assert watched.status == 200 and live.viewer_count(case_id) == 1
