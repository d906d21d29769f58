"""The statements on the push and pull paths, run on a raw DBAPI connection per thread.

A manifest GET is one indexed lookup; a blob push links one row. Through
SQLAlchemy's connection checkout, transaction events and result machinery such a
statement costs 300-600 us of CPU; on a raw connection it costs under 20 us. The
statements here are plain SQL written once with `?` placeholders, in the subset
SQLite and PostgreSQL share (`ON CONFLICT`, `RETURNING`), in the module of the
concern they belong to (manifests.py, tags.py, blobs.py...). Every write and every
one-statement read of the metadata modules runs here; SQLAlchemy Core serves snapshot reads
of several statements and the vulnerability database (docs/decisions/019-one-sql-style.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy.engine import Engine

from cargohold.meta.db import WriterLock

log = logging.getLogger("cargohold.meta")

# Larger than any page: a tags list without `n` returns everything.
NO_LIMIT = 2**62


class Transaction:
    """Raw statements inside one write transaction."""

    def __init__(self, fast: FastPath, connection: Any) -> None:
        self._fast = fast
        self._connection = connection

    def one(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        row = self._connection.execute(self._fast.sql(sql), tuple(params)).fetchone()
        return tuple(row) if row is not None else None

    def column(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        cursor = self._connection.execute(self._fast.sql(sql), tuple(params))
        return [row[0] for row in cursor.fetchall()]

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._connection.execute(self._fast.sql(sql), tuple(params))
        return [tuple(row) for row in cursor.fetchall()]

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        return int(self._connection.execute(self._fast.sql(sql), tuple(params)).rowcount)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._connection.cursor().executemany(self._fast.sql(sql), rows)


class FastPath:
    """One raw connection per thread that uses it, kept for the life of the thread.

    A per-statement lease from a shared pool measured 12% slower on manifest GETs, so
    connections stay thread-local; the count is bounded by the threads that touch the
    database (per worker: the event loop, the database writers, the upload I/O threads,
    the pull recorder and the default executor, about 25 on PostgreSQL). Size PostgreSQL's
    max_connections for that times workers times nodes, plus SQLAlchemy's pool of 10.
    """

    def __init__(self, engine: Engine, writer_lock: WriterLock | None) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._writer_lock = writer_lock
        self._local = threading.local()
        self._sql: dict[str, str] = {}

    def sql(self, statement: str) -> str:
        """The statement in the driver's placeholder style (`?` or `%s`)."""
        translated = self._sql.get(statement)
        if translated is None:
            translated = statement.replace("?", "%s") if self._postgres else statement
            self._sql[statement] = translated
        return translated

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            pooled = self._engine.raw_connection()
            connection = pooled.driver_connection
            # Ours for the life of the thread: the pool neither resets nor reuses it.
            pooled.detach()
            if self._postgres:
                # Reads are single statements; writes open a transaction explicitly.
                connection.autocommit = True
            self._local.connection = connection
        return connection

    def close_thread_connection(self) -> None:
        """Close the calling thread's connection (the next statement opens another)."""
        self._drop_connection()

    def _drop_connection(self) -> None:
        connection = self._local.__dict__.pop("connection", None)
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing a broken connection failed", exc_info=True)

    # -- reads (autocommit, one statement each) --------------------------------------------

    def one(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        rows = self._read(sql, tuple(params), many=False)
        return rows[0] if rows else None

    def column(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self._read(sql, tuple(params), many=True)]

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row, as tuples."""
        return [tuple(row) for row in self._read(sql, tuple(params), many=True)]

    def _read(self, sql: str, params: tuple[Any, ...], many: bool) -> list[Any]:
        for attempt in (1, 2):
            try:
                cursor = self._connection().execute(self.sql(sql), params)
                if many:
                    return list(cursor.fetchall())
                row = cursor.fetchone()
                return [tuple(row)] if row is not None else []
            except Exception:
                # A dropped connection (database restart): reconnect once, then give up.
                self._drop_connection()
                if attempt == 2:
                    raise
        return []

    # -- writes ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        if self._postgres:
            connection = self._connection()
            try:
                with connection.transaction():
                    yield Transaction(self, connection)
            except Exception:
                if connection.closed:
                    self._drop_connection()
                raise
            return
        with self._writer_lock.held() if self._writer_lock else nullcontext():
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self, connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
