"""SDP offers are checked before aiortc sees them (issue #9 Medium 12): a corpus of malformed offers and random
mutations of a valid one are refused with InvalidSdp (never another exception), nothing is left in the registry,
and browser offers are still accepted."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media import InvalidSdp, NegotiationFailed, PeerRegistry, SdpLimits, check_offer
from tests.media.sdp_corpus import CHROME_OFFER, FIREFOX_OFFER, corpus
from tests.media.test_peers import QuadrantTrack


async def _offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(QuadrantTrack())
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


@pytest.fixture(scope="module")
def valid_offer() -> str:
    return asyncio.run(_offer())


@pytest.fixture
async def caller() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(QuadrantTrack())
    await pc.setLocalDescription(await pc.createOffer())
    yield pc
    await pc.close()


async def _ignore(peer_id: str, track: object) -> None:
    return None


def test_browser_and_aiortc_offers_are_accepted(valid_offer: str) -> None:
    chrome = check_offer(CHROME_OFFER)
    assert chrome.media_kinds == ("video", "audio") and chrome.candidates == 4
    assert set(chrome.fingerprints) == {"sha-256"}
    firefox = check_offer(FIREFOX_OFFER)  # fingerprint and ICE options at session level
    assert firefox.media_kinds == ("video", "audio") and firefox.candidates == 2
    assert check_offer(valid_offer).media_kinds == ("video",)
    assert check_offer(valid_offer.replace("\r\n", "\n")).candidates >= 1  # bare line feeds are tolerated


EXPECTED = {
    "empty": "starts with the line v=0",
    "1 MB": "larger than",
    "missing fingerprint": "no a=fingerprint",
    "two different fingerprints": "two different sha-256 fingerprints",
    "unknown hash": "unknown fingerprint hash function",
    "payload type 99999": "payload type '99999'",
    "truncated candidate": "malformed ICE candidate",
    "10k candidates": "larger than",
    "100 candidates": "more than 64 ICE candidates",
    "non-UTF-8": "not valid UTF-8",
    "not SDP": "starts with the line v=0",
    "no media": "no audio or video",
    "garbage line": "not of the form x=value",
    "no ICE password": "lacks an ICE password",
    "no direction": "lacks a direction",
}


def test_every_malformed_offer_is_refused_with_a_clear_message(valid_offer: str) -> None:
    offers = corpus(valid_offer)
    assert set(offers) == set(EXPECTED)
    for name, sdp in offers.items():
        with pytest.raises(InvalidSdp) as refused:
            check_offer(sdp)
        assert EXPECTED[name] in str(refused.value), (name, str(refused.value))


def test_limits_are_configurable(valid_offer: str) -> None:
    with pytest.raises(InvalidSdp, match="more than 0 media sections"):
        check_offer(valid_offer, SdpLimits(max_media_sections=0))
    with pytest.raises(InvalidSdp, match="more than 0 ICE candidates"):
        check_offer(valid_offer, SdpLimits(max_candidates=0))
    with pytest.raises(InvalidSdp, match="larger than 100 bytes"):
        check_offer(valid_offer, SdpLimits(max_bytes=100))


async def test_the_registry_refuses_the_corpus_leaves_no_peer_and_still_answers(
        registry: PeerRegistry, caller: RTCPeerConnection) -> None:
    valid = str(caller.localDescription.sdp)
    for name, sdp in corpus(valid).items():
        with pytest.raises(InvalidSdp):
            await registry.answer(f"bad-{name}", sdp, _ignore)
        assert len(registry) == 0, name
    answer = await registry.answer("good", valid, _ignore)
    await caller.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    assert len(registry) == 1


async def test_an_offer_aiortc_rejects_after_the_check_is_a_clear_refusal(registry: PeerRegistry,
                                                                         caller: RTCPeerConnection) -> None:
    # Well-formed, but with no codec aiortc knows: aiortc raises its OperationError (was a 500 / "internal").
    offer = re.sub(r"^(a=rtpmap:\d+) [^/]+/", r"\1 NOPE/", str(caller.localDescription.sdp), flags=re.MULTILINE)
    check_offer(offer)
    with pytest.raises(NegotiationFailed, match="cannot negotiate"):
        await registry.answer("no-password", offer, _ignore)
    assert len(registry) == 0


_LINE_EDITS = st.sampled_from(["", " ", ":", "a=", "-1", "99999", "sha-256", "typ", "\x00", "é", "\udcff", "\r\n"])


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_are_accepted_or_refused_never_crash(valid_offer: str, data: st.DataObject) -> None:
    lines = valid_offer.split("\r\n")
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        cut = data.draw(st.integers(0, len(line)))
        edit = data.draw(st.one_of(_LINE_EDITS, st.text(max_size=8)))
        lines[index] = data.draw(st.sampled_from([line[:cut], line[:cut] + edit + line[cut:], edit]))
    mutated = "\r\n".join(lines)
    try:
        check_offer(mutated)
    except InvalidSdp:
        pass  # refused with a message: fine; any other exception fails the test
