"""The job queue on each of its stores: jobs run once, schedules fire once per minute."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cargohold.config import ConfigError, load_settings
from cargohold.jobs.queue import JobQueue, open_huey
from cargohold.jobs.schedule import ScheduleError, parse_schedule
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer

_databases = itertools.count()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(job_store, metadata_url, data_dir) for one of the three queue stores."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        # One Redis database per test keeps their queues apart.
        return (server.url[:-1] + str(next(_databases) % 15 + 1), "", str(tmp_path))
    if request.param == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        url = pg.create_database(f"jobs_{next(_databases)}")
        return ("", url, str(tmp_path))
    return ("", f"sqlite:///{tmp_path / 'cargohold.db'}", str(tmp_path))


def _queue(store: tuple[str, str, str], create: bool = False) -> JobQueue:
    queue = JobQueue(open_huey(*store, create_tables=create))
    if create:
        queue.huey.flush()
    return queue


def test_cron_expressions_are_checked() -> None:
    daily = parse_schedule("@daily")
    assert daily is not None
    assert daily(datetime(2026, 11, 27, 0, 0)) and not daily(datetime(2026, 11, 27, 0, 1))
    at_three = parse_schedule("30 3 * * *")
    assert at_three is not None and at_three(datetime(2026, 1, 5, 3, 30))
    assert parse_schedule("off") is None and parse_schedule("") is None
    for bad in ("every day", "61 * * * *", "* * * *", "0 25 * * *"):
        with pytest.raises(ScheduleError, match="not a cron expression"):
            parse_schedule(bad)
    with pytest.raises(ConfigError, match=r"^gc_schedule: 'nightly' is not a cron expression"):
        load_settings(env={}, overrides={"gc_schedule": "nightly"})
    with pytest.raises(ConfigError, match="job_store must be empty or a redis:// URL"):
        load_settings(env={}, overrides={"job_store": "amqp://x"})


def test_jobs_run_once_each_with_their_arguments(store: tuple[str, str, str]) -> None:
    seen: list[tuple[str, Any]] = []
    done = threading.Event()
    queue = _queue(store, create=True)

    def body(job_id: str, n: int) -> None:
        seen.append((job_id, n))
        if len(seen) == 20:
            done.set()

    queue.register("count", body)
    for n in range(20):
        queue.enqueue("count", f"job-{n}", {"n": n})
    queue.start(workers=3)
    try:
        assert done.wait(30), f"only {len(seen)} of 20 jobs ran"
        time.sleep(0.3)  # a duplicate delivery would show up here
    finally:
        queue.stop()
    assert sorted(seen) == sorted((f"job-{n}", n) for n in range(20))
    assert queue.pending() == 0


def test_a_schedule_fires_once_per_minute_across_processes(store: tuple[str, str, str]) -> None:
    """Every server process runs the scheduler; only one of them enqueues a given minute."""
    nodes = [_queue(store, create=True)] + [_queue(store) for _ in range(2)]
    for node in nodes:
        node.register_schedule("tick", "*/5 * * * *", lambda: None)
    minute = datetime(2026, 11, 27, 3, 5)
    assert sum(node.fire_due_schedules(minute) for node in nodes) == 1
    assert sum(node.fire_due_schedules(minute) for node in nodes) == 0
    assert sum(node.fire_due_schedules(datetime(2026, 11, 27, 3, 6)) for node in nodes) == 0
    assert sum(node.fire_due_schedules(datetime(2026, 11, 27, 3, 10)) for node in nodes) == 1
    assert nodes[0].pending() == 2


def test_a_fired_schedule_runs_its_work(tmp_path: Path) -> None:
    store = ("", f"sqlite:///{tmp_path / 'cargohold.db'}", str(tmp_path))
    queue = _queue(store, create=True)
    fired = threading.Event()
    queue.register_schedule("tick", "* * * * *", fired.set)
    queue.register_schedule("never", "off", lambda: pytest.fail("a disabled schedule ran"))
    assert queue.fire_due_schedules(datetime(2026, 11, 27, 12, 0)) == 1
    queue.start(workers=1)
    try:
        assert fired.wait(10)
    finally:
        queue.stop()


def test_old_schedule_claims_are_pruned(tmp_path: Path) -> None:
    store = ("", f"sqlite:///{tmp_path / 'cargohold.db'}", str(tmp_path))
    queue = _queue(store, create=True)
    queue.register_schedule("tick", "0 * * * *", lambda: None)
    for hour in range(48):
        day, at = divmod(hour, 24)
        assert queue.fire_due_schedules(datetime(2026, 11, 1 + day, at, 0)) == 1
    claims = [key for key in queue.huey.storage.result_items() if key.startswith("schedule:")]
    assert len(claims) == 25  # the last day's claims (and the one a day old)
