"""Upload sessions: a chunked blob push in progress and how far its bytes have come."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cargohold.meta.database import Database


@dataclass(frozen=True)
class Upload:
    id: str
    repository: str
    offset: int
    created_at: float
    updated_at: float
    # The bytes are kept in the row (services/inline_staging.py), not in the blob store.
    inline: bool = False


class UploadRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, upload_id: str, repository: str) -> None:
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                'INSERT INTO uploads (id, repository, "offset", created_at, updated_at)'
                " VALUES (?, ?, 0, ?, ?)",
                (upload_id, repository, now, now),
            )

    def get(self, upload_id: str) -> Upload | None:
        row = self.db.one(
            'SELECT id, repository, "offset", created_at, updated_at, staged IS NOT NULL'
            " FROM uploads WHERE id = ?",
            (upload_id,),
        )
        return Upload(*row[:5], bool(row[5])) if row else None

    def staged(self, upload_id: str) -> bytes | None:
        """The bytes kept in the session's row (None: none kept there)."""
        row = self.db.one("SELECT staged FROM uploads WHERE id = ?", (upload_id,))
        return bytes(row[0]) if row and row[0] is not None else None

    def advance(
        self, upload_id: str, old_offset: int, new_offset: int, staged: bytes | None = None
    ) -> bool:
        """Move the offset forward only if nobody else moved it first; `staged` becomes the
        bytes kept in the row (None: the blob store holds them), in the same statement, which
        also ends the row's hold (`claim`)."""
        with self.db.transaction() as tx:
            changed = tx.execute(
                'UPDATE uploads SET "offset" = ?, updated_at = ?, staged = ?, held_until = NULL'
                ' WHERE id = ? AND "offset" = ?',
                (new_offset, time.time(), staged, upload_id, old_offset),
            )
        return changed == 1

    def claim(self, upload_id: str, offset: int, now: float, until: float) -> bool:
        """Hold the session until `until` if it is still at `offset` and nobody holds it (a
        hold past its time counts as none)."""
        with self.db.transaction() as tx:
            changed = tx.execute(
                'UPDATE uploads SET held_until = ? WHERE id = ? AND "offset" = ?'
                " AND (held_until IS NULL OR held_until < ?)",
                (until, upload_id, offset, now),
            )
        return changed == 1

    def release(self, upload_id: str, until: float) -> None:
        """End the hold taken with `until` (not one somebody took since)."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE uploads SET held_until = NULL WHERE id = ? AND held_until = ?",
                (upload_id, until),
            )

    def delete(self, upload_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

    def expired(self, idle_before: float, limit: int = 500) -> list[str]:
        """Sessions idle since before `idle_before`."""
        return self.db.column(
            "SELECT id FROM uploads WHERE updated_at < ? LIMIT ?", (idle_before, limit)
        )
