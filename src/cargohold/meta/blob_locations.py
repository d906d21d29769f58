"""Digest -> object key, for blobs stored where their upload's parts were sent rather than at
their digest's key (the S3 driver's located uploads, decision 055). The driver reads these
through the `BlobLocations` protocol (storage/base.py); nothing else needs them. Raw
statements on the Database's fast path (decision 019)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from cargohold.meta.database import Database, in_batches


class BlobLocationRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def key_of(self, digest: str) -> str | None:
        row = self.db.one("SELECT object_key FROM blob_locations WHERE digest = ?", (digest,))
        return str(row[0]) if row else None

    def record(self, digest: str, key: str, instead_of: str | None = None) -> str | None:
        """Point `digest` at `key`, unless a row points it elsewhere (other than at
        `instead_of`, which `key` replaces): None when it points at `key` now, else the key
        it points at."""
        now = time.time()
        with self.db.transaction() as tx:
            if instead_of is not None:
                tx.execute(
                    "UPDATE blob_locations SET object_key = ?, recorded_at = ?"
                    " WHERE digest = ? AND object_key = ?",
                    (key, now, digest, instead_of),
                )
            tx.execute(
                "INSERT INTO blob_locations (digest, object_key, recorded_at) VALUES (?, ?, ?)"
                " ON CONFLICT (digest) DO NOTHING",
                (digest, key, now),
            )
            row = tx.one("SELECT object_key FROM blob_locations WHERE digest = ?", (digest,))
        return None if row is None or row[0] == key else str(row[0])

    def forget(self, pairs: list[tuple[str, str]]) -> None:
        """Drop the rows of these (digest, key) pairs; a row that points elsewhere by now
        stays."""
        if pairs:
            with self.db.transaction() as tx:
                tx.executemany(
                    "DELETE FROM blob_locations WHERE digest = ? AND object_key = ?", pairs
                )

    def keys_of(self, digests: list[str]) -> dict[str, str]:
        """Digest -> key of those of `digests` that have a row."""
        return dict(self._rows_where("digest", digests))

    def referenced(self, keys: list[str]) -> set[str]:
        """Those of `keys` that a row points at."""
        return {key for _, key in self._rows_where("object_key", keys)}

    def _rows_where(self, column: str, values: list[str]) -> Iterator[tuple[str, str]]:
        """(digest, key) of the rows whose `column` is one of `values`, 500 at a time."""
        for batch, marks in in_batches(values):
            for digest, key in self.db.rows(
                f"SELECT digest, object_key FROM blob_locations WHERE {column} IN ({marks})",
                batch,
            ):
                yield str(digest), str(key)

    def all(self) -> Iterator[tuple[str, str]]:
        """Every (digest, key), in digest order."""
        for digest, key in self.db.rows(
            "SELECT digest, object_key FROM blob_locations ORDER BY digest"
        ):
            yield str(digest), str(key)
