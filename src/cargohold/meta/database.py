"""The database every metadata module shares: engine, fast path, writer lock, audit append.

Each concern of the metadata store (manifests, tags, uploads, holds, quotas...) is a module
of its own that takes this `Database` and goes through its public methods only. Which to use
is decision 019 (docs/decisions/019-one-sql-style.md): every write and every single-statement
read is raw on the fast path (`transaction`; `one`, `column`, `rows`); a read of several
statements that must see one snapshot is a SQLAlchemy Core `read()`; `write()` serves only
the vulnerability database. `audit` records an event inside a raw write transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cargohold.meta.audit_fields import INSERT_AUDIT_EVENT, OK, Actor, AuditEntry, audit_row
from cargohold.meta.db import read_transaction, write_transaction, writer_lock_for
from cargohold.meta.fastpath import FastPath, Transaction

T = TypeVar("T")
# Values in one `IN (...)` list: under SQLite's 999 bound parameters, with room for others.
IN_BATCH = 500


def in_batches(values: Sequence[T], size: int = IN_BATCH) -> Iterator[tuple[Sequence[T], str]]:
    """`values` in slices of at most `size`, each with its `?, ?, ...` for an `IN (...)`."""
    for start in range(0, len(values), size):
        batch = values[start : start + size]
        yield batch, ", ".join("?" * len(batch))


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # One writer lock for both paths: the fast path and SQLAlchemy writers queue together.
        self._writer_lock = writer_lock_for(engine)
        self._fast = FastPath(engine, self._writer_lock)

    def close(self) -> None:
        """Close this thread's connection and the writer lock's file: for a short-lived user
        of a server's database (a setup step), which must not keep its files open. Server
        processes keep theirs for their lifetime."""
        self._fast.close_thread_connection()
        if self._writer_lock is not None:
            self._writer_lock.close()

    # -- SQLAlchemy Core (snapshot reads; the vulnerability database) -----------------------

    def read(self) -> AbstractContextManager[sa.Connection]:
        """A connection in a read transaction: several statements that see one snapshot."""
        return read_transaction(self.engine)

    def write(self) -> AbstractContextManager[sa.Connection]:
        """A connection in a write transaction, behind the SQLite writer lock (vulndb only)."""
        return write_transaction(self.engine, self._writer_lock)

    # -- raw statements (every write, every one-statement read; see fastpath.py) -----------

    def one(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        return self._fast.one(sql, params)

    def column(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """The first column of every row."""
        return self._fast.column(sql, params)

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._fast.rows(sql, params)

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction of raw statements."""
        return self._fast.transaction()

    # -- the audit log ----------------------------------------------------------------------

    @staticmethod
    def audit(
        tx: Transaction,
        at: float,
        actor: Actor,
        action: str,
        target: str,
        detail: dict[str, Any],
        *,
        project: str = "",
        repository: str = "",
        reference: str = "",
        digest: str = "",
        result: str = OK,
    ) -> None:
        """Record an event in the transaction that makes the change it describes."""
        row = audit_row(
            at, actor, action, target, detail, project, repository, reference, digest, result
        )
        tx.execute(INSERT_AUDIT_EVENT, row)

    @staticmethod
    def audit_entries(tx: Transaction, entries: list[AuditEntry]) -> None:
        """Record several events in one statement (batched pulls, denials, logins)."""
        if entries:
            tx.executemany(INSERT_AUDIT_EVENT, [entry.row() for entry in entries])
