"""The few queries on the pull path, run on a raw DBAPI connection per thread.

A manifest GET or blob HEAD is one indexed lookup. Through SQLAlchemy's
connection checkout, transaction events and result machinery it costs about
350 us; the same statement on a raw autocommit connection costs under 10 us.
These statements are plain SQL kept next to the tables they read
(`models.py`); everything else goes through SQLAlchemy in `store.py`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger("cargohold.meta")

_MANIFEST_BY_TAG = (
    "SELECT m.id, m.digest, m.media_type, m.content, m.subject_digest"
    " FROM tags t JOIN manifests m ON m.id = t.manifest_id"
    " JOIN repositories r ON r.id = t.repository_id"
    " WHERE r.name = {p} AND t.name = {p}"
)
_MANIFEST_BY_DIGEST = (
    "SELECT m.id, m.digest, m.media_type, m.content, m.subject_digest"
    " FROM manifests m JOIN repositories r ON r.id = m.repository_id"
    " WHERE r.name = {p} AND m.digest = {p}"
)
_LINKED_BLOB_SIZE = (
    "SELECT b.size FROM repository_blobs rb"
    " JOIN repositories r ON r.id = rb.repository_id"
    " JOIN blobs b ON b.digest = rb.digest"
    " WHERE r.name = {p} AND rb.digest = {p}"
)
_TAG_NAMES = (
    "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id"
    " WHERE r.name = {p} AND t.name > {p} ORDER BY t.name LIMIT {p}"
)
# Larger than any page: a tags list without `n` returns everything.
NO_LIMIT = 2**62


class HotReads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        placeholder = "%s" if self._postgres else "?"
        self.manifest_by_tag = _MANIFEST_BY_TAG.format(p=placeholder)
        self.manifest_by_digest = _MANIFEST_BY_DIGEST.format(p=placeholder)
        self.linked_blob_size = _LINKED_BLOB_SIZE.format(p=placeholder)
        self.tag_names = _TAG_NAMES.format(p=placeholder)
        self._local = threading.local()

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            pooled = self._engine.raw_connection()
            connection = pooled.driver_connection
            # Ours for the life of the thread: the pool neither resets nor reuses it.
            pooled.detach()
            if self._postgres:
                # Each lookup is its own statement: never sit idle in a transaction.
                connection.autocommit = True
            self._local.connection = connection
        return connection

    def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = self._run(sql, params, many=False)
        return rows[0] if rows else None

    def column(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self._run(sql, params, many=True)]

    def _run(self, sql: str, params: tuple[Any, ...], many: bool) -> list[Any]:
        for attempt in (1, 2):
            try:
                cursor = self._connection().execute(sql, params)
                if many:
                    return list(cursor.fetchall())
                row = cursor.fetchone()
                return [tuple(row)] if row is not None else []
            except Exception:
                # A dropped connection (database restart): reconnect once, then give up.
                connection = self._local.__dict__.pop("connection", None)
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:
                        log.debug("closing a broken connection failed", exc_info=True)
                if attempt == 2:
                    raise
        return []
