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
            'SELECT id, repository, "offset", created_at, updated_at FROM uploads WHERE id = ?',
            (upload_id,),
        )
        return Upload(*row) if row else None

    def advance(self, upload_id: str, old_offset: int, new_offset: int) -> bool:
        """Move the offset forward only if nobody else moved it first."""
        with self.db.transaction() as tx:
            changed = tx.execute(
                'UPDATE uploads SET "offset" = ?, updated_at = ? WHERE id = ? AND "offset" = ?',
                (new_offset, time.time(), upload_id, old_offset),
            )
        return changed == 1

    def delete(self, upload_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

    def expired(self, idle_before: float, limit: int = 500) -> list[str]:
        """Sessions idle since before `idle_before`."""
        return self.db.column(
            "SELECT id FROM uploads WHERE updated_at < ? LIMIT ?", (idle_before, limit)
        )
