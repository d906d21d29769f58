"""Scheduled jobs fire once per matching minute across every process that schedules them.

The stack's nodes run no jobs (`job_workers = 0`), so they schedule nothing; its two workers
both run the scheduler, with the audit purge due every minute. Each checks its schedules as
it starts and every 60 s after; the stack starts both in the same early part of a minute, so
that minute had two contenders from the start. Its claim (a put-if-empty in the Redis queue)
went to one: one run per minute, and the claims in Redis are the minutes that ran.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import redis

from tests.multinode.stack import ProductionStack
from tests.support.times import seconds

KIND = "audit-purge"
CLAIMS = "huey.results.cargohold"  # huey's result hash, where the claims are kept


def _minute(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M")


def _scheduled_runs(stack: ProductionStack) -> list[dict[str, Any]]:
    with stack.admin_client(stack.url) as admin:
        response = admin.get("/api/v1/jobs", params={"kind": KIND, "n": 100})
    assert response.status_code == 200, response.text
    return [run for run in response.json()["jobs"] if run["trigger"] == "schedule"]


def test_a_schedule_fires_once_per_minute_across_two_workers(stack: ProductionStack) -> None:
    started = []
    for worker in stack.workers:
        lines = [e for e in worker.log_entries() if "consumer started" in e["message"].lower()]
        assert lines, f"{worker.log_path}: the job consumer did not start"
        started.append(datetime.fromisoformat(lines[0]["time"]).timestamp())
    # Both checked their schedules first in one minute.
    first_minute = _minute(started[0])
    assert _minute(started[1]) == first_minute

    # Wait for the first run to finish, then for the claims, the runs and the winners' log
    # lines to agree (a check in progress has claimed and logged, and not yet recorded a run).
    deadline = time.monotonic() + 90
    while True:
        won, claims, runs = _won(stack), _claims(stack), _scheduled_runs(stack)
        minutes = sorted(_minute(seconds(run["createdAt"])) for run in runs)
        settled = runs and all(run["state"] == "succeeded" for run in runs)
        if settled and len(won) == len(claims) == len(runs):
            break
        assert time.monotonic() < deadline, (won, claims, runs)
        time.sleep(0.5)

    assert len(minutes) == len(set(minutes)), minutes
    assert claims == minutes
    assert first_minute in minutes
    assert all(run["createdBy"] == "schedule" for run in runs)


def _claims(stack: ProductionStack) -> list[str]:
    """The minutes claimed for the schedule in the Redis queue."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        prefix = f"schedule:{KIND}:"
        return sorted(
            key.decode().removeprefix(prefix)
            for key in client.hkeys(CLAIMS)
            if key.decode().startswith(prefix)
        )
    finally:
        client.close()


def _won(stack: ProductionStack) -> list[dict[str, Any]]:
    """The log lines in which a worker enqueued the schedule's job (it claimed the minute)."""
    return [
        entry
        for worker in stack.workers
        for entry in worker.log_entries()
        if entry["message"].startswith("Enqueueing periodic task ")
        and f".schedule.{KIND}: " in entry["message"]
    ]
