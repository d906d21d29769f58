"""Storage accounting: what the repositories' usage counts, what they would take without
sharing, and what the blob store holds (the storage report's inputs)."""

from __future__ import annotations

import time

from cargohold.meta.database import Database
from cargohold.meta.sums import joined, split_sum_sql


class StorageAccounting:
    def __init__(self, db: Database, link_grace_seconds: float) -> None:
        self.db = db
        # Links younger than this count (see MetadataStore.link_grace_seconds).
        self.link_grace_seconds = link_grace_seconds

    def blob_links(self) -> list[tuple[str, str, int]]:
        """(repository, digest, size) of every blob a repository's usage counts: those its
        manifests reference and those a push in flight linked (see _PROJECT_COUNTED)."""
        return [
            (row[0], row[1], int(row[2]))
            for row in self.db.rows(
                "SELECT r.name, rb.digest, b.size FROM repository_blobs rb"
                " JOIN repositories r ON r.id = rb.repository_id"
                " JOIN blobs b ON b.digest = rb.digest"
                " WHERE rb.linked_at >= ? OR EXISTS (SELECT 1 FROM manifest_references mr"
                " JOIN manifests m ON m.id = mr.manifest_id"
                " WHERE m.repository_id = rb.repository_id AND mr.digest = rb.digest)",
                (time.time() - self.link_grace_seconds,),
            )
        ]

    def logical_sizes(self) -> dict[str, tuple[int, int]]:
        """repository -> (manifests, logical bytes: each manifest plus every blob it
        references, counted again for every manifest that references it)."""
        manifest_rows = self.db.rows(
            "SELECT r.name, COUNT(*), COALESCE(SUM(m.size), 0) FROM manifests m"
            " JOIN repositories r ON r.id = m.repository_id GROUP BY r.name"
        )
        # Declared sizes (foreign layers are not checked against anything): summed in parts.
        reference_rows = self.db.rows(
            f"SELECT r.name, {split_sum_sql('mr.size')} FROM manifest_references mr"
            " JOIN manifests m ON m.id = mr.manifest_id"
            " JOIN repositories r ON r.id = m.repository_id"
            " WHERE mr.kind <> 'manifest' GROUP BY r.name"
        )
        referenced = {name: joined(high, low) for name, high, low in reference_rows}
        return {
            name: (int(count), int(size) + referenced.get(name, 0))
            for name, count, size in manifest_rows
        }

    def stored_blob_bytes(self) -> tuple[int, int]:
        """(blobs, bytes) the metadata store says the blob store holds."""
        row = self.db.one("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs")
        assert row is not None
        return int(row[0]), int(row[1])
