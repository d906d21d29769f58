"""What the registry keeps about an image by its digest alone, once no repository stores it.

Scan reports with their findings (meta/scans.py) and image analyses (meta/analyses.py) are
keyed by the manifest's digest, not by a repository, so deleting the last manifest with that
digest leaves them behind. Garbage collection deletes them here (raw statements on the
Database's fast path, decision 019), in batches, each batch checked again inside its delete.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.meta.database import Database

BATCH = 500

_UNSTORED = "NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = {table}.digest)"


@dataclass
class Purged:
    reports: int = 0
    analyses: int = 0


class UnstoredImageRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def purge(self, made_before: float, batch: int = BATCH) -> Purged:
        """Delete the scan reports (with their findings) and the analyses of images no
        repository stores, made before `made_before`: a report written after that (a scan
        that finished after its image was deleted, or an image pushed again) waits for a
        later run."""
        return Purged(
            reports=self._purge("scan_reports", "scanned_at", made_before, batch, "scan_findings"),
            analyses=self._purge("image_analyses", "analyzed_at", made_before, batch),
        )

    def _purge(
        self, table: str, made_at: str, before: float, batch: int, details: str | None = None
    ) -> int:
        """Delete the rows of `table` made before `before` whose digest no repository stores,
        with the rows of `details` (keyed by the same digest)."""
        unstored = _UNSTORED.format(table=table)
        purged = 0
        after = ""
        while True:
            digests = self.db.column(
                f"SELECT digest FROM {table} WHERE digest > ? AND {made_at} < ? AND {unstored}"
                " ORDER BY digest LIMIT ?",
                (after, before, batch),
            )
            if not digests:
                return purged
            after = digests[-1]
            marks = ", ".join("?" * len(digests))
            with self.db.transaction() as tx:
                # Checked again: a manifest pushed since the read keeps its report.
                gone = tx.column(
                    f"DELETE FROM {table} WHERE digest IN ({marks}) AND {made_at} < ?"
                    f" AND {unstored} RETURNING digest",
                    (*digests, before),
                )
                if gone and details is not None:
                    tx.execute(
                        f"DELETE FROM {details} WHERE digest IN ({', '.join('?' * len(gone))})",
                        gone,
                    )
            purged += len(gone)
            if len(digests) < batch:
                return purged
