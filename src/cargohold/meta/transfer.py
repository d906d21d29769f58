"""Copying the whole metadata store into another database (`cargohold migrate-metadata`).

The destination's schema is made by the normal migrations, at the revision the source is
at (this release's newest: a source at another revision is refused). Then every table is
copied in dependency order, in batches read from one snapshot of the source and written in
one transaction at the destination: a failure leaves the destination empty, and the run can
simply be repeated. Identity sequences are advanced past the copied ids (PostgreSQL), and the
row counts of every table are compared once the copy is committed.

What is not carried, and why (docs/decisions/032-moving-a-single-node.md):
- `uploads`: upload sessions in flight; their staged bytes are in the old blob store, which
  migrate-storage does not copy. Their clients push again.
- job runs still `queued` or `running`: the queue itself (huey's messages: a file beside the
  SQLite database, or Redis) is not in the metadata, so nothing would ever run them. They
  are carried as `failed`, saying so, and can be queued again.
- huey's own tables (`jobq*`, present when the metadata is already PostgreSQL): the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cargohold.errors.exception_text import first_line
from cargohold.meta.db import migrate

VERSION_TABLE = "alembic_version"
UPLOADS = "uploads"
JOB_RUNS = "job_runs"
# huey's tables when the queue lives in PostgreSQL (jobs/hueystores.py, table_prefix).
QUEUE_TABLE_PREFIX = "jobq"
UNFINISHED_JOB_STATES = ("queued", "running")
NOT_RUN = (
    "not run: the metadata moved to another database (cargohold migrate-metadata) before this "
    "job ran; queue it again"
)
BATCH_SIZE = 1000

# (table, rows copied so far, rows in all) after each batch.
Progress = Callable[[str, int, int], None]


class TransferRefused(Exception):
    """The copy cannot start; the message is one line saying why and what to do."""


class TransferFailed(Exception):
    """The copy failed part-way (rolled back) or its counts differ; one line."""


@dataclass
class TableCopy:
    name: str
    source_rows: int
    destination_rows: int = 0


@dataclass
class TransferReport:
    revision: str
    tables: list[TableCopy] = field(default_factory=list)
    # Upload sessions in flight at the source, not carried.
    uploads_dropped: int = 0
    # Job runs that were queued or running, carried as failed.
    jobs_marked_failed: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(table.destination_rows for table in self.tables)


def head_revision() -> str:
    """This release's newest schema revision."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(Path(__file__).with_name("alembic.ini")))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def schema_revision(conn: sa.Connection) -> str | None:
    """The revision the migrations left in a database; None if it has none (not cargohold's)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _cargohold_tables(engine: Engine) -> sa.MetaData:
    """The tables the migrations made in a database, as it has them."""
    reflected = sa.MetaData()
    reflected.reflect(bind=engine)
    for table in list(reflected.tables.values()):
        if table.name == VERSION_TABLE or table.name.startswith(QUEUE_TABLE_PREFIX):
            reflected.remove(table)
    return reflected


def _count(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


class MetadataTransfer:
    def __init__(self, source: Engine, destination: Engine, batch_size: int = BATCH_SIZE) -> None:
        self.source = source
        self.destination = destination
        self.batch_size = batch_size

    def run(self, replace: bool = False, progress: Progress | None = None) -> TransferReport:
        started = time.monotonic()
        head = head_revision()
        with self._snapshot() as reading:
            revision = schema_revision(reading)
            if revision is None:
                raise TransferRefused("the source is not a cargohold metadata database")
            if revision != head:
                raise TransferRefused(
                    f"the source's schema is at revision {revision}, this cargohold's at {head}:"
                    " start this release's `cargohold serve` on it once (it migrates the schema"
                    " at start), or run the release that matches it"
                )
            migrate(self.destination)
            target = _cargohold_tables(self.destination)
            origin = _cargohold_tables(self.source)
            missing = sorted(set(target.tables) - set(origin.tables))
            if missing:
                raise TransferRefused(f"the source lacks tables {', '.join(missing)}")
            report = TransferReport(head)
            with self.destination.begin() as writing:
                self._make_room(writing, target, replace)
                for table in target.sorted_tables:
                    source_table = origin.tables[table.name]
                    rows = _count(reading, source_table)
                    if table.name == UPLOADS:
                        report.uploads_dropped = rows
                        continue
                    report.tables.append(TableCopy(table.name, rows))
                    if progress is not None:
                        progress(table.name, 0, rows)
                    self._copy_table(reading, source_table, writing, table, report, progress)
                if self.destination.dialect.name == "postgresql":
                    for table in target.sorted_tables:
                        _advance_sequences(writing, table)
        self._verify(target, report)
        report.seconds = time.monotonic() - started
        return report

    def _snapshot(self) -> AbstractContextManager[sa.Connection]:
        """A read transaction on the source: every table read from one snapshot."""
        if self.source.dialect.name == "postgresql":
            return self.source.execution_options(isolation_level="REPEATABLE READ").begin()
        return self.source.begin()

    def _make_room(self, writing: sa.Connection, target: sa.MetaData, replace: bool) -> None:
        held = [(t.name, n) for t in target.sorted_tables if (n := _count(writing, t))]
        if not held:
            return
        if not replace:
            shown = ", ".join(f"{name} ({_rows(n)})" for name, n in held[:4])
            more = f" and {len(held) - 4} more tables" if len(held) > 4 else ""
            raise TransferRefused(
                f"the destination already holds data: {shown}{more}; give it an empty database,"
                " or --replace to delete what it holds first"
            )
        for table in reversed(target.sorted_tables):
            writing.execute(table.delete())

    def _copy_table(
        self,
        reading: sa.Connection,
        source_table: sa.Table,
        writing: sa.Connection,
        table: sa.Table,
        report: TransferReport,
        progress: Progress | None,
    ) -> None:
        names = [column.name for column in table.columns]
        missing = [name for name in names if name not in source_table.columns]
        if missing:
            raise TransferRefused(f"the source's {table.name} lacks columns {', '.join(missing)}")
        query = sa.select(*(source_table.c[name] for name in names))
        order = list(source_table.primary_key.columns)
        if order:
            query = query.order_by(*order)
        copied = 0
        result = reading.execution_options(yield_per=self.batch_size).execute(query)
        for batch in result.partitions():
            rows = [dict(zip(names, row, strict=True)) for row in batch]
            if table.name == JOB_RUNS:
                report.jobs_marked_failed += _close_unfinished_jobs(rows)
            try:
                writing.execute(table.insert(), rows)
            except sa.exc.DBAPIError as exc:
                raise TransferFailed(
                    f"cannot copy table {table.name}: {first_line(exc)}; nothing was committed"
                ) from None
            copied += len(rows)
            if progress is not None:
                progress(table.name, copied, report.tables[-1].source_rows)

    def _verify(self, target: sa.MetaData, report: TransferReport) -> None:
        with self.destination.connect() as conn:
            for copy in report.tables:
                copy.destination_rows = _count(conn, target.tables[copy.name])
        differ = [t for t in report.tables if t.destination_rows != t.source_rows]
        if differ:
            shown = ", ".join(
                f"{t.name} ({_rows(t.source_rows)} at the source, {t.destination_rows} copied)"
                for t in differ
            )
            raise TransferFailed(f"row counts differ after the copy: {shown}")


def _close_unfinished_jobs(rows: list[dict[str, Any]]) -> int:
    closed = 0
    now = time.time()
    for row in rows:
        if row["state"] in UNFINISHED_JOB_STATES:
            row.update(state="failed", finished_at=now, error=NOT_RUN)
            closed += 1
    return closed


def _advance_sequences(writing: sa.Connection, table: sa.Table) -> None:
    """Set each serial/identity column's sequence past the largest copied id, so the next
    row the server inserts does not collide with a copied one."""
    for column in table.primary_key.columns:
        if not isinstance(column.type, sa.Integer):
            continue
        sequence = writing.execute(
            sa.select(sa.func.pg_get_serial_sequence(table.name, column.name))
        ).scalar()
        if sequence is None:
            continue
        largest = writing.execute(sa.select(sa.func.max(column))).scalar() or 0
        writing.execute(sa.select(sa.func.setval(sequence, largest + 1, False)))
