"""The pull counter stores: exact under concurrent pulls, on SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from cargohold.meta.database import Database
from cargohold.meta.pull_counters import PullCounterRecords, PullWindow
from cargohold.policy.pull_limits import Budget, RateLimit
from cargohold.services.pull_counters import (
    RETRY_SECONDS,
    CountersUnavailable,
    DatabasePullCounters,
    FallbackPullCounters,
    PullCounters,
)
from cargohold.services.pull_counters_redis import RedisPullCounters
from tests.support.ports import free_port
from tests.support.redis import RedisServer

T0 = 1_800_000_000.0
CLIENTS = 32


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def _all_at_once(counters: PullCounters, budget: Budget) -> list[bool]:
    """CLIENTS threads take a pull at the same moment; whether each was counted."""
    barrier = threading.Barrier(CLIENTS)
    allowed: list[bool] = []

    def pull() -> None:
        barrier.wait(timeout=30)
        allowed.append(counters.take(budget).allowed)

    threads = [threading.Thread(target=pull) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return allowed


def test_database_counters_are_exact_under_concurrent_pulls(database: Database) -> None:
    counters = DatabasePullCounters(PullCounterRecords(database), 3600, Clock())
    budget = Budget("anonymous:192.0.2.1", RateLimit(10, 3600))
    allowed = _all_at_once(counters, budget)
    assert (allowed.count(True), allowed.count(False)) == (10, CLIENTS - 10)
    status = counters.peek(budget)
    assert (status.remaining, status.retry_after) == (0, 3600)


def test_database_counters_follow_the_clock_and_purge_ended_windows(database: Database) -> None:
    clock = Clock()
    records = PullCounterRecords(database)
    counters = DatabasePullCounters(records, 100, clock)
    alice = Budget("user:alice", RateLimit(2, 100))
    bob = Budget("user:bob", RateLimit(2, 100))
    assert [counters.take(alice).allowed for _ in range(3)] == [True, True, False]
    assert counters.take(bob).remaining == 1  # a budget of its own
    clock.now = T0 + 60
    refused = counters.take(alice)
    assert (refused.allowed, refused.retry_after) == (False, 40)
    assert records.get("user:alice") == PullWindow(T0, 2)  # refusals are not counted
    clock.now = T0 + 100
    assert counters.take(alice).remaining == 1  # a new window
    assert records.get("user:alice") == PullWindow(T0 + 100, 1)
    clock.now = T0 + 150
    counters.purge()  # bob's window (from T0) ended; alice's (from T0 + 100) has not
    assert records.get("user:bob") is None
    assert records.get("user:alice") == PullWindow(T0 + 100, 1)


def test_redis_counters_are_exact_under_concurrent_pulls(redis_server: RedisServer) -> None:
    counters = RedisPullCounters(redis_server.url)
    budget = Budget("anonymous:192.0.2.9", RateLimit(10, 3600))
    assert counters.peek(budget).remaining == 10
    allowed = _all_at_once(counters, budget)
    assert (allowed.count(True), allowed.count(False)) == (10, CLIENTS - 10)
    status = counters.peek(budget)
    assert status.remaining == 0
    assert 3500 < status.retry_after <= 3600
    other = Budget("anonymous:192.0.2.10", RateLimit(10, 3600))
    assert counters.take(other).remaining == 9


def test_an_unreachable_redis_is_reported_as_unavailable() -> None:
    counters = RedisPullCounters(f"redis://127.0.0.1:{free_port()}/0")
    budget = Budget("user:alice", RateLimit(10, 3600))
    with pytest.raises(CountersUnavailable):
        counters.take(budget)
    with pytest.raises(CountersUnavailable):
        counters.peek(budget)


def test_while_redis_is_unreachable_the_metadata_store_counts_then_redis_again(
    database: Database,
) -> None:
    """Redis down: the embedded store counts, exactly under concurrency (limits still hold);
    Redis is not asked again until RETRY_SECONDS have passed, then counts again once back."""
    redis_server = RedisServer()  # its port is known; started only later
    clock = Clock()
    fallback = DatabasePullCounters(PullCounterRecords(database), 3600, clock)
    counters = FallbackPullCounters(RedisPullCounters(redis_server.url), fallback, clock)
    budget = Budget("anonymous:192.0.2.77", RateLimit(10, 3600))
    allowed = _all_at_once(counters, budget)
    assert (allowed.count(True), allowed.count(False)) == (10, CLIENTS - 10)
    assert fallback.peek(budget).remaining == 0
    redis_server.start()
    try:
        clock.now = T0 + RETRY_SECONDS - 1
        assert counters.take(budget).allowed is False  # still the embedded store's window
        clock.now = T0 + RETRY_SECONDS
        assert counters.take(budget).remaining == 9  # Redis's own window
        assert RedisPullCounters(redis_server.url).peek(budget).remaining == 9
        counters.purge()
    finally:
        redis_server.stop()
