"""The vulnerability database's tables, and the row-level reads and writes `VulnStore` runs
inside its transactions.

Tables (their own `MetaData`, every name prefixed `vuln_`, plain types that mean the same on
SQLite and PostgreSQL, so the registry can mirror them in a migration):

- `vuln_records`: one row per record: its `id`, `modified` and `withdrawn` (UNIX seconds),
  the source that last wrote it and the record's JSON text, parsed again on read.
- `vuln_affected`: (record, ecosystem, normalised package name) for every affected package;
  matching asks by (ecosystem, name).
- `vuln_ids`: (record, other id) for each alias and upstream id, so a record can be found by
  any id it is known by (the severity of a Debian record often lives in its upstream CVE).
- `vuln_sources`: where records were imported from, and when.
- `vuln_state`: one row; `serial` goes up in every write transaction that changes records.
  The database version string is `<serial>-<instance>`, `instance` being random per
  database, so a version from another (or a re-created) database is never taken for one of
  this database's versions.
- `vuln_changes`: the (ecosystem, name) keys each serial touched, so the registry can
  re-evaluate only the images with packages a change may concern.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

vuln_records = sa.Table(
    "vuln_records",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("modified", sa.Float, nullable=False),
    sa.Column("withdrawn", sa.Float, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_vuln_records_source", "source"),
)

vuln_affected = sa.Table(
    "vuln_affected",
    metadata,
    sa.Column("record_id", sa.Text, primary_key=True),
    sa.Column("ecosystem", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Index("ix_vuln_affected_package", "ecosystem", "name"),
)

vuln_ids = sa.Table(
    "vuln_ids",
    metadata,
    sa.Column("record_id", sa.Text, primary_key=True),
    sa.Column("alias", sa.Text, primary_key=True),
    sa.Index("ix_vuln_ids_alias", "alias"),
)

vuln_sources = sa.Table(
    "vuln_sources",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("records", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_import_at", sa.Float, nullable=True),
    sa.Column("last_modified", sa.Float, nullable=True),
)

vuln_state = sa.Table(
    "vuln_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("serial", sa.BigInteger, nullable=False),
    sa.Column("instance", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=True),
)

vuln_changes = sa.Table(
    "vuln_changes",
    metadata,
    sa.Column("serial", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ecosystem", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
)

# Ecosystems whose names are stored in lower case (scan/osv.py normalize_name); databases
# filled before that stored them as the records spell them.
_CASE_INSENSITIVE = "('NuGet', 'Packagist')"


def lowercase_name_statements() -> list[str]:
    """SQL (SQLite and PostgreSQL) that brings stored NuGet and Packagist names to lower
    case, dropping a row that would then duplicate another. Migration 0019 runs the same."""
    statements = []
    for table, key in (("vuln_affected", "record_id"), ("vuln_changes", "serial")):
        statements += [
            f"DELETE FROM {table} WHERE ecosystem IN {_CASE_INSENSITIVE}"
            f" AND name <> lower(name) AND EXISTS (SELECT 1 FROM {table} other"
            f" WHERE other.{key} = {table}.{key} AND other.ecosystem = {table}.ecosystem"
            f" AND other.name = lower({table}.name))",
            f"UPDATE {table} SET name = lower(name)"
            f" WHERE ecosystem IN {_CASE_INSENSITIVE} AND name <> lower(name)",
        ]
    return statements


PackageKey = tuple[str, str]  # (full ecosystem, normalised name), e.g. ("Debian:12", "openssl")

# Bound parameters per IN list: well below SQLite's 32766 and PostgreSQL's 65535.
IN_CHUNK = 5000


def pairs(result: Iterable[Sequence[Any]]) -> list[tuple[Any, Any]]:
    return [(row[0], row[1]) for row in result]


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stored_modified(conn: sa.Connection, ids: Sequence[str]) -> dict[str, float]:
    result: dict[str, float] = {}
    for chunk in chunks(ids):
        query = sa.select(vuln_records.c.id, vuln_records.c.modified).where(
            vuln_records.c.id.in_(chunk)
        )
        result.update(pairs(conn.execute(query)))
    return result


def other_ids(conn: sa.Connection, record_ids: Sequence[str]) -> list[str]:
    result: list[str] = []
    for chunk in chunks(record_ids):
        query = sa.select(vuln_ids.c.alias).where(vuln_ids.c.record_id.in_(chunk))
        result += conn.execute(query).scalars()
    return result


def keys_of(conn: sa.Connection, record_ids: Sequence[str]) -> set[PackageKey]:
    keys: set[PackageKey] = set()
    for chunk in chunks(record_ids):
        query = sa.select(vuln_affected.c.ecosystem, vuln_affected.c.name).where(
            vuln_affected.c.record_id.in_(chunk)
        )
        keys.update(pairs(conn.execute(query)))
    return keys


def keys_of_related(
    conn: sa.Connection, linked_ids: Collection[str], changed: Collection[str]
) -> set[PackageKey]:
    """Keys of the records that name any of `linked_ids` or are named by one of them.

    A change to a record can change the findings of other records that point at it, e.g. a
    Debian record whose severity comes from its upstream CVE record.
    """
    related: set[str] = set()
    ids = sorted(linked_ids)
    for chunk in chunks(ids):
        related.update(
            conn.execute(sa.select(vuln_ids.c.record_id).where(vuln_ids.c.alias.in_(chunk)))
            .scalars()
            .all()
        )
        related.update(
            conn.execute(sa.select(vuln_records.c.id).where(vuln_records.c.id.in_(chunk)))
            .scalars()
            .all()
        )
    related.difference_update(changed)
    return keys_of(conn, sorted(related))


def insert_many(conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    """One executemany of plain tuples, in the table's column order.

    Bulk imports spend most of their database time here; the driver's executemany without
    SQLAlchemy's per-row parameter processing is about twice as fast.
    """
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    columns = ", ".join(column.name for column in table.columns)
    marks = ", ".join(mark for _ in table.columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", rows)


def delete_records(conn: sa.Connection, record_ids: Sequence[str]) -> None:
    for chunk in chunks(record_ids):
        conn.execute(vuln_affected.delete().where(vuln_affected.c.record_id.in_(chunk)))
        conn.execute(vuln_ids.delete().where(vuln_ids.c.record_id.in_(chunk)))
        conn.execute(vuln_records.delete().where(vuln_records.c.id.in_(chunk)))
