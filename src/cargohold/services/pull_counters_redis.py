"""Pull rate-limit windows in Redis, for several nodes that share one (services/pull_counters.py).

A caller's window is one key holding its count, which expires when the window ends: the
first pull of a window sets the expiry, so the window starts at that pull, as the embedded
store's does. Each operation is one Lua script, which Redis runs atomically: 32 clients
against a limit of 10 get exactly 10 pulls, however many nodes they reach. The clock is
Redis's own (the key's time to live), so nodes' clocks do not matter.
"""

from __future__ import annotations

import redis

from cargohold.policy.pull_limits import Budget, RateLimit, RateStatus, status_of
from cargohold.services.pull_counters import CountersUnavailable

KEY_PREFIX = "cargohold:pulls:"
# A hung Redis must not hold a pool thread for long: the limiter lets the pull through instead.
TIMEOUT_SECONDS = 2.0

# KEYS[1]: the caller's key; ARGV[1]: the limit; ARGV[2]: the window in milliseconds.
# Returns {counted (1 or 0), pulls in the window, milliseconds until it ends}.
_TAKE = """
local pulls = tonumber(redis.call('GET', KEYS[1]) or '0')
if pulls >= tonumber(ARGV[1]) then
  return {0, pulls, redis.call('PTTL', KEYS[1])}
end
pulls = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {1, pulls, ttl}
"""
# Returns {pulls in the window, milliseconds until it ends (negative: no window)}.
_PEEK = """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}
"""


def _seconds_left(limit: RateLimit, ttl_ms: int) -> float:
    return ttl_ms / 1000 if ttl_ms >= 0 else float(limit.window_seconds)


class RedisPullCounters:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        self._take = self.client.register_script(_TAKE)
        self._peek = self.client.register_script(_PEEK)

    def peek(self, budget: Budget) -> RateStatus:
        try:
            pulls, ttl_ms = self._peek(keys=[KEY_PREFIX + budget.subject])
        except redis.RedisError as exc:
            raise CountersUnavailable(str(exc)) from exc
        return status_of(budget.limit, int(pulls), _seconds_left(budget.limit, int(ttl_ms)))

    def take(self, budget: Budget) -> RateStatus:
        limit = budget.limit
        try:
            counted, pulls, ttl_ms = self._take(
                keys=[KEY_PREFIX + budget.subject], args=[limit.pulls, limit.window_seconds * 1000]
            )
        except redis.RedisError as exc:
            raise CountersUnavailable(str(exc)) from exc
        return status_of(limit, int(pulls), _seconds_left(limit, int(ttl_ms)), bool(counted))

    def purge(self) -> None:
        """Nothing to do: keys expire with their windows."""
