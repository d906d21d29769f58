"""huey's storages and consumer as cargohold uses them (imported once huey is)."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer, Worker
from huey.storage import SqliteStorage

QUEUE_NAME = "cargohold"


def open_store(redis_url: str, postgres_url: str, data_dir: str, create_tables: bool) -> Huey:
    """Redis when a URL is given, else PostgreSQL when given, else SQLite in data_dir."""
    if redis_url:
        return RedisHuey(QUEUE_NAME, url=redis_url, utc=True, results=False)
    if postgres_url:
        dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
        return PostgresHuey(
            QUEUE_NAME,
            dsn=dsn,
            utc=True,
            results=False,
            table_prefix="jobq",
            create_tables=create_tables,
        )
    path = Path(data_dir).resolve() / "jobs.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        QUEUE_NAME,
        filename=str(path),
        utc=True,
        results=False,
        timeout=30,
        storage_class=_SqliteStorage,
    )


class _SqliteStorage(SqliteStorage):  # type: ignore[misc]
    """As the metadata database: WAL with synchronous=NORMAL, no fsync per enqueue (huey's
    default fsyncs every commit, a push then waits on the disk twice). A power loss can drop
    the last queued jobs, never corrupt the queue; a scan lost that way is redone on demand."""

    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


# Job threads run at a lower CPU priority than the threads serving requests: on a busy node
# a scan waits, a push does not.
JOB_NICENESS = 10


class _NiceWorker(Worker):  # type: ignore[misc]
    def initialize(self) -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICENESS)
        super().initialize()


class ServerConsumer(Consumer):  # type: ignore[misc]
    """huey's consumer without signal handlers: it runs inside the HTTP server's process."""

    worker_class = _NiceWorker

    def _set_signal_handlers(self) -> None:
        pass
