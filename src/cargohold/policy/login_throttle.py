"""Slowdown and lockout after failed logins: a pure decision on a failure count.

After each failure the account (or client address) may not be tried again for a delay
that doubles with each failure, from `slowdown_base_seconds` up to
`slowdown_max_seconds`; at `threshold` failures it is locked for `lockout_seconds`. A
count is forgotten once its last failure is `lockout_seconds` old, and a lock when it ends.
An attempt refused by the throttle is not counted: it is not checked at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.meta.login_failures import FailureState

MAX_DOUBLINGS = 64


@dataclass(frozen=True)
class LoginThrottle:
    threshold: int
    lockout_seconds: float
    slowdown_base_seconds: float
    slowdown_max_seconds: float

    def current(self, state: FailureState | None, now: float) -> FailureState | None:
        """The state as it stands at `now`: None once forgotten."""
        if state is None:
            return None
        if state.locked_until is not None:
            return state if now < state.locked_until else None
        if now - state.last_failure_at >= self.lockout_seconds:
            return None
        return state

    def retry_after(self, state: FailureState | None, now: float) -> float | None:
        """Seconds until another attempt may be checked; None when one may be now."""
        state = self.current(state, now)
        if state is None:
            return None
        if state.locked_until is not None:
            return state.locked_until - now
        # The exponent is capped: past a thousand failures (a high lockout threshold) 2**n no
        # longer fits a float, and any delay that long is the max anyway.
        doublings = min(state.failures - 1, MAX_DOUBLINGS)
        delay = min(self.slowdown_base_seconds * 2.0**doublings, self.slowdown_max_seconds)
        wait = state.last_failure_at + delay - now
        return wait if wait > 0 else None

    def locked(self, state: FailureState | None, now: float) -> bool:
        state = self.current(state, now)
        return state is not None and state.locked_until is not None

    def after_failure(
        self, kind: str, subject: str, state: FailureState | None, now: float
    ) -> FailureState:
        """The state after one more failure at `now`."""
        state = self.current(state, now)
        failures = 1 if state is None else state.failures + 1
        locked_until = now + self.lockout_seconds if failures >= self.threshold else None
        return FailureState(kind, subject, failures, now, locked_until)
