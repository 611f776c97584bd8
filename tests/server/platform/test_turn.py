"""ICE configuration: coturn shared-secret TURN credentials, STUN entries, policy and start-up validation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from server.config import ConfigError, IceSettings
from server.platform.turn import ice_configuration, turn_credentials, validate_ice

NOW = datetime(2026, 11, 28, 12, 0, 30, 500_000, tzinfo=UTC)
ICE = IceSettings(stun_urls=("stun:turn.example:3478",),
                  turn_urls=("turn:turn.example:3478?transport=udp", "turns:turn.example:443?transport=tcp"),
                  turn_secret="shared-secret", turn_ttl_s=600)


def expected_credential(secret: str, username: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def test_turn_credentials_follow_the_coturn_rest_scheme() -> None:
    config = ice_configuration(ICE, "participant-42", NOW)
    stun, turn = config["iceServers"]
    assert stun == {"urls": ["stun:turn.example:3478"]}
    assert turn["urls"] == list(ICE.turn_urls)
    expiry, user = turn["username"].split(":")
    assert int(expiry) == int(NOW.timestamp()) + 600 and user == "participant-42"
    assert turn["credential"] == expected_credential("shared-secret", turn["username"])
    assert config["iceTransportPolicy"] == "all"


def test_relay_policy_passes_through() -> None:
    relay = IceSettings(turn_urls=("turns:turn.example:443",), turn_secret="s", transport_policy="relay")
    config = ice_configuration(relay, "p", NOW)
    assert config["iceTransportPolicy"] == "relay"
    assert [set(server) for server in config["iceServers"]] == [{"urls", "username", "credential"}]


def test_user_ref_cannot_inject_a_colon() -> None:
    username, credential = turn_credentials("k", "a:9999999999:b", NOW, 60)
    assert username.count(":") == 1 and username.endswith(":a_9999999999_b")
    assert credential == expected_credential("k", username)
    assert turn_credentials("k", "", NOW, 60)[0].endswith(":anonymous")
    assert len(turn_credentials("k", "x" * 500, NOW, 60)[0].split(":")[1]) == 64


def test_credentials_change_with_time_and_user() -> None:
    first = turn_credentials("k", "p", NOW, 60)
    assert first != turn_credentials("k", "q", NOW, 60)
    assert first != turn_credentials("k", "p", datetime(2027, 1, 1, tzinfo=UTC), 60)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        turn_credentials("k", "p", datetime(2026, 1, 1), 60)


def test_no_ice_server_by_default() -> None:
    assert ice_configuration(IceSettings(), "p", NOW) == {"iceServers": [], "iceTransportPolicy": "all"}
    only_stun = ice_configuration(IceSettings(stun_urls=("stun:own.example",)), "p", NOW)
    assert only_stun["iceServers"] == [{"urls": ["stun:own.example"]}]


BAD = [
    IceSettings(turn_urls=("turn:x",)),
    IceSettings(transport_policy="p2p"),
    IceSettings(transport_policy="relay"),
    IceSettings(stun_urls=("http://x",)),
    IceSettings(stun_urls=("turn:x",)),
    IceSettings(turn_urls=("stun:x",), turn_secret="s"),
    IceSettings(turn_urls=("turn:x",), turn_secret="s", turn_ttl_s=0),
]


@pytest.mark.parametrize("ice", BAD)
def test_bad_configuration_is_refused_at_start_up_and_at_call_time(ice: IceSettings) -> None:
    with pytest.raises(ConfigError):
        validate_ice(ice)
    with pytest.raises(ValueError):
        ice_configuration(ice, "p", NOW)


def test_good_configuration_validates() -> None:
    validate_ice(ICE)
    validate_ice(IceSettings())
