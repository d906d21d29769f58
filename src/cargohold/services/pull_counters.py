"""Where pull rate-limit windows are counted: one interface, an embedded store and Redis.

`PullCounters` is what the limiter (services/pull_limits.py) uses. Both stores count exactly
under concurrency, across the server's processes and nodes, and keep a fixed window per
caller (policy/pull_limits.py):

- `DatabasePullCounters` (the default): a row per caller in the metadata store, changed in
  one transaction (meta/pull_counters.py); windows that ended are purged now and then.
- `RedisPullCounters` (services/pull_counters_redis.py, `pull_limit_store = "redis://..."`):
  a key per caller that expires with its window; `FallbackPullCounters` puts the embedded
  store behind it for when Redis cannot be reached.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from cargohold.meta.pull_counters import PullCounterRecords, PullWindow
from cargohold.policy.pull_limits import Budget, RateStatus, peek, take

log = logging.getLogger("cargohold.pull_limits")

# After Redis failed, the embedded store counts for this long before Redis is tried again:
# a Redis that hangs costs a process one timeout per period, not one per pull.
RETRY_SECONDS = 10.0
# How often the switch to the embedded store is logged, at most (per process).
LOG_SECONDS = 60.0


class CountersUnavailable(Exception):
    """The counter store cannot be reached: the limiter lets the pull through."""


class PullCounters(Protocol):
    def peek(self, budget: Budget) -> RateStatus:
        """The caller's status, counting nothing."""
        ...

    def take(self, budget: Budget) -> RateStatus:
        """Count one pull if the window has room; `allowed` is False (and nothing counted)
        when it has none."""
        ...

    def purge(self) -> None:
        """Forget windows that have ended (a store whose keys expire does nothing)."""
        ...


class DatabasePullCounters:
    """Windows in the metadata store. `longest_window` (seconds): a window that started this
    long ago has ended whatever its class, and is purged."""

    def __init__(
        self, records: PullCounterRecords, longest_window: int, clock: Callable[[], float]
    ) -> None:
        self.records = records
        self.longest_window = longest_window
        self.clock = clock

    def peek(self, budget: Budget) -> RateStatus:
        return peek(self.records.get(budget.subject), budget.limit, self.clock())

    def take(self, budget: Budget) -> RateStatus:
        outcome: list[RateStatus] = []

        def decide(window: PullWindow | None) -> PullWindow | None:
            # The clock is read with the row locked: the windows of one caller see time move
            # forward in the order their pulls are counted.
            new, status = take(window, budget.limit, self.clock())
            outcome.append(status)
            return new

        self.records.update(budget.subject, decide)
        return outcome[-1]

    def purge(self) -> None:
        self.records.purge(self.clock() - self.longest_window)


class FallbackPullCounters:
    """`primary` (Redis), and `fallback` (the metadata store) while the primary cannot be
    reached: limits still hold, across nodes, when Redis is down. The two stores keep separate
    windows, so a window that spans the switch starts afresh in the other store: a caller may
    get up to twice its limit in it. After a failure the primary is tried again RETRY_SECONDS
    later (by the first pull after that)."""

    def __init__(
        self,
        primary: PullCounters,
        fallback: PullCounters,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.clock = clock
        self._primary_from = float("-inf")  # when to try the primary again
        self._logged_at = float("-inf")

    def peek(self, budget: Budget) -> RateStatus:
        return self._store(lambda store: store.peek(budget))

    def take(self, budget: Budget) -> RateStatus:
        return self._store(lambda store: store.take(budget))

    def purge(self) -> None:
        self.fallback.purge()
        with contextlib.suppress(CountersUnavailable):  # Redis's keys expire by themselves
            self.primary.purge()

    def _store(self, operation: Callable[[PullCounters], RateStatus]) -> RateStatus:
        now = self.clock()
        if now >= self._primary_from:
            try:
                return operation(self.primary)
            except CountersUnavailable as exc:
                self._primary_from = now + RETRY_SECONDS
                if now - self._logged_at >= LOG_SECONDS:
                    self._logged_at = now
                    log.warning(
                        "pull counters in Redis unreachable (%s): counting pulls in the "
                        "metadata store meanwhile",
                        exc,
                    )
        return operation(self.fallback)
