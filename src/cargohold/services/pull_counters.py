"""Where pull rate-limit windows are counted: one interface, an embedded store and Redis.

`PullCounters` is what the limiter (services/pull_limits.py) uses. Both stores count exactly
under concurrency, across the server's processes and nodes, and keep a fixed window per
caller (policy/pull_limits.py):

- `DatabasePullCounters` (the default): a row per caller in the metadata store, changed in
  one transaction (meta/pull_counters.py); windows that ended are purged now and then.
- `RedisPullCounters` (services/pull_counters_redis.py, `pull_limit_store = "redis://..."`):
  a key per caller that expires with its window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cargohold.meta.pull_counters import PullCounterRecords, PullWindow
from cargohold.policy.pull_limits import Budget, RateStatus, peek, take


class CountersUnavailable(Exception):
    """The counter store cannot be reached (Redis down): the limiter lets the pull through."""


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
