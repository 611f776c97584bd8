"""Validation of signaling payloads (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.errors import InvalidMessage
from signaling.messages import Limits, check_size, parse_chat, parse_join, parse_signal

LIMITS = Limits()
PEER = "0123456789abcdef0123456789abcdef"


def test_offer_answer_candidate_and_restart_are_accepted_as_is() -> None:
    offer = {"type": "offer", "sdp": "v=0\r\n..."}
    assert parse_signal({"to": PEER, "data": {"description": offer}}, LIMITS).data == {"description": offer}
    candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host", "sdpMid": "0",
                 "sdpMLineIndex": 0, "usernameFragment": "abcd"}
    assert parse_signal({"to": PEER, "data": {"candidate": candidate}}, LIMITS).data["candidate"] == candidate
    assert parse_signal({"to": PEER, "data": {"candidate": None}}, LIMITS).data == {"candidate": None}
    assert parse_signal({"to": PEER, "data": {"restartRequest": True}}, LIMITS).to == PEER


@pytest.mark.parametrize(
    "payload",
    [
        None, [], "x", {"to": PEER}, {"to": PEER.upper(), "data": {"restartRequest": True}},
        {"to": PEER, "data": {"restartRequest": False}},
        {"to": PEER, "data": {"description": {"type": "offer", "sdp": "x"}}},
        {"to": PEER, "data": {"description": {"type": "bogus", "sdp": "v=0"}}},
        {"to": PEER, "data": {"description": {"type": "offer", "sdp": "v=0" + "a" * LIMITS.max_sdp_bytes}}},
        {"to": PEER, "data": {"description": {"type": "offer", "sdp": "v=0", "extra": 1}}},
        {"to": PEER, "data": {"candidate": {"candidate": "not a candidate"}}},
        {"to": PEER, "data": {"candidate": {"candidate": "candidate:1", "sdpMLineIndex": True}}},
        {"to": PEER, "data": {"candidate": {"candidate": "candidate:1", "sdpMLineIndex": 10_000}}},
        {"to": PEER, "data": {"restartRequest": True, "candidate": None}},
        {"to": PEER, "data": {"restartRequest": True}, "room": "someone-else"},
    ],
)
def test_malformed_signals_are_refused(payload: Any) -> None:
    with pytest.raises(InvalidMessage):
        parse_signal(payload, LIMITS)


def test_join_chat_and_size_limits() -> None:
    assert parse_join({"consultation": PEER, "instance": "abc"}).consultation_id == PEER
    assert parse_join(None).consultation_id is None
    for bad in ({"consultation": "x"}, {"instance": "x" * 65}, {"instance": "\x00"}, {"room": PEER}):
        with pytest.raises(InvalidMessage):
            parse_join(bad)
    assert parse_chat({"text": "bonjour"}, LIMITS) == "bonjour"
    for bad_chat in ({"text": ""}, {"text": "   "}, {"text": "x" * (LIMITS.max_chat_chars + 1)}, {"text": None}):
        with pytest.raises(InvalidMessage):
            parse_chat(bad_chat, LIMITS)
    check_size({"a": "b" * 1000}, LIMITS)
    with pytest.raises(InvalidMessage):
        check_size({"a": "b" * LIMITS.max_event_bytes}, LIMITS)
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(InvalidMessage):
        check_size(deep, LIMITS)


def test_check_structure_names_the_field_with_a_lone_surrogate_or_too_deep() -> None:
    from signaling.messages import MAX_NESTING, check_structure

    check_structure({"to": PEER, "data": {"candidate": {"candidate": "candidate:1 é ✓"}}})
    nested: list[Any] = []
    for _ in range(MAX_NESTING):
        nested = [nested]
    for payload, start in [
        ({"text": "x\udcff"}, "text must be valid Unicode"),
        ({"data": {"list": ["ok", "\ud800"]}}, "data.list[1] must be valid Unicode"),
        ({"\udcffkey": 1}, "a field name in payload must be valid Unicode"),
        ({"deep": [[[[]]]] * 2 + [nested]}, "deep is nested more than 32 levels deep"),
    ]:
        with pytest.raises(InvalidMessage) as refused:
            check_structure(payload)
        assert refused.value.message.startswith(start), refused.value.message
