"""The slowdown after failed logins stays a number of seconds however many failures a high
lockout threshold lets pile up (2**n overflowed a float past about a thousand)."""

from __future__ import annotations

from cargohold.meta.login_failures import FailureState
from cargohold.policy.login_throttle import LoginThrottle


def test_the_slowdown_stops_at_its_max_however_many_failures() -> None:
    throttle = LoginThrottle(100000, 900.0, 1.0, 30.0)
    for failures, expected in ((1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (1025, 30.0)):
        state = FailureState("address", "127.0.0.1", failures, 1000.0, None)
        assert throttle.retry_after(state, 1000.0) == expected
