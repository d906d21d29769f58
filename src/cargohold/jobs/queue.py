"""The job queue: one API over huey's SQLite, PostgreSQL and Redis storage.

Which storage is used (see decision 004):
- `job_store = "redis://..."`: Redis, for several nodes that already run Redis;
- otherwise PostgreSQL when the metadata store is PostgreSQL (every node shares it);
- otherwise a SQLite file beside the metadata database (the embedded default).

Every process can queue jobs; on each node one of them (NodeLeader), or a `cargohold worker`,
consumes them (threads, no signal handlers of its own: the HTTP server owns the signals).
Schedules are cron expressions in UTC; each consuming process runs huey's scheduler, and a
schedule's firing for a given minute is claimed with an atomic put-if-empty in the queue's
storage, so consumers on several nodes run it once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from huey import Huey
    from huey.api import Task

from cargohold.jobs.schedule import parse_schedule

log = logging.getLogger("cargohold.jobs")

# How long a schedule's claim on a minute is kept: long enough to stop every duplicate.
CLAIM_SECONDS = 86400


def open_huey(
    job_store: str,
    metadata_url: str,
    data_dir: str,
    create_tables: bool = False,
    lean: bool = False,
) -> Huey:
    """The huey instance for these settings (see the module docstring for the choice).

    Tables are created once, by `cargohold serve` before it starts the workers
    (`create_tables=True`): workers creating them at once would race on PostgreSQL.

    `lean` (server and worker processes, whose stores never change): huey's storage module
    imports the PostgreSQL and Redis clients whenever they are installed; a process that uses
    neither imports huey without them (about 17 MiB less per process, libpq included).
    """
    redis_queue = job_store.startswith(("redis://", "rediss://"))
    postgres = metadata_url.startswith("postgresql")
    if lean and "huey" not in sys.modules:
        unused = [
            name
            for name, used in (("redis", redis_queue), ("psycopg", postgres))
            if not used and name not in sys.modules
        ]
        for name in unused:
            sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail
        try:
            import huey  # noqa: F401
        finally:
            for name in unused:
                del sys.modules[name]
    from cargohold.jobs import hueystores

    return hueystores.open_store(
        job_store if redis_queue else "", metadata_url if postgres else "", data_dir, create_tables
    )


def _prune_claims(storage: Any, prefix: str, moment: datetime) -> None:
    """Drop a schedule's claims older than CLAIM_SECONDS; the winner of a minute does it.

    (huey's key expiry needs Redis 7.4; Debian's is 7.0, and SQL storages have none.)
    """
    oldest = f"{prefix}{moment - timedelta(seconds=CLAIM_SECONDS):%Y-%m-%dT%H:%M}"
    for key in list(storage.result_items()):
        if key.startswith(prefix) and key < oldest:
            storage.delete_data(key)


class NodeLeader:
    """Which process of this node runs jobs: the one holding an exclusive lock on a file.

    Every server process tries; one wins and starts the consumer, the others retry every few
    seconds (one takes over if the winner exits). Only one process per node so carries the
    scanning engine and competes with requests for its interpreter.
    """

    RETRY_SECONDS = 5.0

    def __init__(self, path: Path, on_elected: Callable[[], None]) -> None:
        self.path = path
        self.on_elected = on_elected
        self._stop = threading.Event()
        self._fd: int | None = None
        self._thread = threading.Thread(target=self._run, name="job-leader", daemon=True)

    @property
    def leading(self) -> bool:
        return self._fd is not None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                self._stop.wait(self.RETRY_SECONDS)
                continue
            self._fd = fd
            try:
                self.on_elected()
            except Exception:
                log.exception("starting the job consumer failed")
            return

    def stop(self) -> None:
        self._stop.set()
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None


class JobQueue:
    """Named jobs with keyword arguments, queued from any process, run where `start` ran."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._tasks: dict[str, Any] = {}
        self._consumer: Any = None
        self._lock = threading.Lock()

    # Job results live in the metadata store (job_runs), so huey keeps none (results=False).

    # -- registration ---------------------------------------------------------------------

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        """`fn(job_id=..., **kwargs)` runs for each enqueued job of this name."""

        def run(job_id: str, kwargs: dict[str, Any]) -> Any:
            return fn(job_id=job_id, **kwargs)

        self._tasks[name] = self.huey.task(name=name, context=False)(run)

    def register_schedule(self, name: str, schedule: str, fire: Callable[[], None]) -> None:
        """Call `fire()` once per matching minute across every process sharing this queue."""
        matches = parse_schedule(schedule)
        if matches is None:
            return
        storage = self.huey.storage

        prefix = f"schedule:{name}:"

        def due(moment: datetime) -> bool:
            if not matches(moment):
                return False
            claim = f"{prefix}{moment:%Y-%m-%dT%H:%M}"
            if storage.put_if_empty(claim, b"1"):
                _prune_claims(storage, prefix, moment)
                return True
            return False

        self.huey.periodic_task(due, name=f"schedule.{name}")(fire)

    # -- producing ------------------------------------------------------------------------

    def enqueue(self, name: str, job_id: str, kwargs: dict[str, Any]) -> None:
        task: Task = self._tasks[name].s(job_id, kwargs)
        task.id = job_id
        self.huey.enqueue(task)

    def fire_due_schedules(self, moment: datetime) -> int:
        """What huey's scheduler does each minute; returns how many schedules fired."""
        fired = 0
        for task in self.huey.read_periodic(moment):
            self.huey.enqueue(task)
            fired += 1
        return fired

    def pending(self) -> int:
        return int(self.huey.pending_count())

    # -- consuming ------------------------------------------------------------------------

    def start(self, workers: int) -> None:
        with self._lock:
            if self._consumer is not None:
                return
            from cargohold.jobs.hueystores import ServerConsumer

            self._consumer = ServerConsumer(
                self.huey,
                workers=workers,
                periodic=True,
                worker_type="thread",
                initial_delay=0.05,
                max_delay=1.0,
                check_worker_health=False,
            )
            self._consumer.start()
            log.info("job consumer started with %d worker thread(s)", workers)

    def stop(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.stop(graceful=True)
