"""Failed logins are limited per client address as well as per user name: spraying many names from one address
is throttled (issue #9). The login page answers the refusal with 429 (tests/server/web/test_http_security.py)."""

from __future__ import annotations

from typing import Any

import pytest

from server.config import LimitSettings
from server.identity.accounts import Accounts, _address_key
from server.platform.clock import ManualClock
from server.platform.errors import RateLimited

LIMITS = LimitSettings(login_failures_allowed=5, login_failures_per_address=4, login_window_s=900)
ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.9"


async def _accounts(db: Any) -> tuple[Accounts, ManualClock]:
    _, sessions = db
    clock = ManualClock()
    accounts = Accounts(sessions, clock, LIMITS)
    await accounts.create("drhouse", "correct horse battery", "Dr House", "practitioner")
    return accounts, clock


async def test_many_user_names_from_one_address_are_throttled(db: Any) -> None:
    accounts, clock = await _accounts(db)
    for number in range(LIMITS.login_failures_per_address):
        assert await accounts.authenticate(f"name{number}", "guess", ATTACKER) is None  # each name is under its limit
    with pytest.raises(RateLimited):
        await accounts.authenticate("yet-another", "guess", ATTACKER)
    with pytest.raises(RateLimited):  # the address is what is throttled, whatever it tries
        await accounts.authenticate("drhouse", "correct horse battery", ATTACKER)
    assert await accounts.authenticate("drhouse", "correct horse battery", NEIGHBOUR) is not None
    clock.advance(seconds=LIMITS.login_window_s + 1)
    assert await accounts.authenticate("drhouse", "correct horse battery", ATTACKER) is not None


async def test_a_successful_login_does_not_reset_the_address_count(db: Any) -> None:
    accounts, _ = await _accounts(db)
    for number in range(LIMITS.login_failures_per_address - 1):
        await accounts.authenticate(f"n{number}", "x", ATTACKER)
    assert await accounts.authenticate("drhouse", "correct horse battery", ATTACKER) is not None  # its own account
    await accounts.authenticate("last", "x", ATTACKER)
    with pytest.raises(RateLimited):
        await accounts.authenticate("more", "x", ATTACKER)


def test_addresses_are_grouped_as_one_subscriber_holds_them() -> None:
    assert _address_key("203.0.113.7") == "addr:203.0.113.7"
    assert _address_key("2001:db8:1:2:aaaa::1") == _address_key("2001:db8:1:2:bbbb::2") == "addr:2001:db8:1:2::/64"
    assert _address_key("::ffff:203.0.113.7") == "addr:203.0.113.7"
    assert _address_key("") is None
