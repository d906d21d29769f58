"""Pull rate limits: a manifest GET or HEAD by a caller whose class has a limit.

What a pull is, which limit a caller is under and how a window counts are policy
(policy/pull_limits.py); the counts are kept by a `PullCounters` store (services/
pull_counters.py). With every limit off (the default) `enabled` is False and the HTTP layer
asks nothing here: a manifest GET stays one fast read on the event loop (decision 017).
With a limit, the caller's GET or HEAD runs here as a whole, on the pool (the count is a
database or Redis operation): the lookup, a GET's pull gates, then the count, so that only a
pull that would be served is counted, and a pull over the limit is refused before it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cargohold.errors import pull_limit_reached
from cargohold.meta.manifests import StoredManifest
from cargohold.policy.pull_limits import Budget, PullLimits, RateStatus, budget_for, counts_as_pull
from cargohold.services.caller import Caller
from cargohold.services.pull_counters import CountersUnavailable, PullCounters
from cargohold.services.registry import RegistryService

log = logging.getLogger("cargohold.pull_limits")

# How often an unreachable counter store is logged (once per this many seconds, per process).
UNAVAILABLE_LOG_SECONDS = 60.0


class PullRateLimiter:
    def __init__(
        self,
        limits: PullLimits,
        counters: PullCounters,
        registry: RegistryService,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.counters = counters
        self.registry = registry
        # Read on every manifest GET and HEAD: a plain attribute, not a property.
        self.enabled = limits.any
        self._clock = clock
        self._last_unavailable_log = float("-inf")

    def budget_of(self, caller: Caller) -> Budget | None:
        """The budget the caller's pulls count against; None when its class has no limit.
        From memory only."""
        return budget_for(self.limits, caller.principal, caller.address)

    def manifest(
        self, repository: str, reference: str, puller: Caller | None, budget: Budget
    ) -> tuple[StoredManifest, RateStatus | None]:
        """A manifest GET or HEAD under a limit: the manifest and the caller's status after it
        (None when the counter store is unreachable: the pull is let through uncounted).

        A GET of an image manifest is counted, after the pull gates let it through; over the
        limit it is refused with TOOMANYREQUESTS, not served and not counted as a pull; the
        refusal is noted in the audit trail as a denied `manifest.pull`. An index GET
        and a HEAD (`puller` None) count nothing. A manifest that is not there is not a pull
        either."""
        stored = self.registry.get_manifest(repository, reference, None)
        if puller is None:
            return stored, self._peek(budget)
        self.registry.check_gates(repository, reference, stored, puller)
        if counts_as_pull(stored.media_type):
            status = self._take(budget)
            if status is not None and not status.allowed:
                limit = status.limit
                refused = pull_limit_reached(limit.pulls, limit.window_seconds, status.retry_after)
                # Noted like every refusal, in words that stay the same while the client
                # retries (batched: a client in a retry loop is one entry per flush).
                self.registry.trail.denied(
                    puller,
                    "manifest.pull",
                    f"pull rate limit: {limit.pulls} pulls per {limit.window_seconds} s",
                    repository=repository,
                    reference=reference,
                    digest=stored.digest,
                )
                raise refused
        else:
            status = self._peek(budget)
        self.registry.record_pull(repository, reference, stored, puller)
        return stored, status

    def purge(self) -> None:
        """Forget windows that have ended (the server's housekeeping, on its pool)."""
        self.counters.purge()

    def _take(self, budget: Budget) -> RateStatus | None:
        return self._count(self.counters.take, budget)

    def _peek(self, budget: Budget) -> RateStatus | None:
        return self._count(self.counters.peek, budget)

    def _count(
        self, operation: Callable[[Budget], RateStatus], budget: Budget
    ) -> RateStatus | None:
        """The counter store's answer; None when it cannot be reached. Pulls go on while it is
        down; one line a minute says so, not one per pull."""
        try:
            return operation(budget)
        except CountersUnavailable as exc:
            now = self._clock()
            if now - self._last_unavailable_log >= UNAVAILABLE_LOG_SECONDS:
                self._last_unavailable_log = now
                log.warning(
                    "pull rate limits not applied: the counter store is unreachable: %s", exc
                )
            return None
