"""Engine creation (SQLite pragmas, PostgreSQL pool) and schema migration."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

WRITE_OPTION = "cargohold_write"
# An arbitrary constant naming cargohold's schema-migration advisory lock in PostgreSQL.
MIGRATION_LOCK = 0x6361726730


class WriterLock:
    """Serialises SQLite writers across threads and processes, waking waiters at once.

    SQLite's own busy handler polls with sleeps of up to 100 ms; with several worker
    processes writing, that turns lock contention into idle time. A blocking flock on a
    file beside the database queues writers in the kernel instead. The database's own
    locking still guards correctness; this only makes waiting efficient.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def writer_lock_for(engine: Engine) -> WriterLock | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return WriterLock(database + ".writelock")


@contextmanager
def read_transaction(engine: Engine) -> Iterator[sa.Connection]:
    """A connection in a read transaction (SQLAlchemy Core, for the admin paths)."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def write_transaction(engine: Engine, writer_lock: WriterLock | None) -> Iterator[sa.Connection]:
    """A connection in a write transaction, behind the SQLite writer lock when there is one."""
    lock = writer_lock.held() if writer_lock else nullcontext()
    with lock, engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=16
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # Let SQLAlchemy's "begin" event issue BEGIN itself (see below).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            # Writers take the lock up front: a deferred transaction that upgrades to a
            # write lock fails with SQLITE_BUSY instead of waiting for busy_timeout.
            write = conn.get_execution_options().get(WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # The hot path has its own bounded pool (fastpath.py); this one serves admin queries.
    return sa.create_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision.

    Alembic is imported here, not at the top: the CLI process migrates, and the server's
    workers, which never do, are spared its ~11 MiB each."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(Path(__file__).with_name("alembic.ini")))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Several nodes starting at once: one migrates, the others wait, then find it done.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
