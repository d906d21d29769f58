"""Manifests are found by digest alone without reading the table: the scanner asks which
repository stores a digest for every report it re-evaluates, and the failed-scans report
joins reports to manifests by digest."""

from __future__ import annotations

from cargohold.meta.database import Database

# ScanRecords.repository_of's statement.
BY_DIGEST = (
    "SELECT r.name FROM manifests m JOIN repositories r ON r.id = m.repository_id"
    " WHERE m.digest = ? ORDER BY r.name LIMIT 1"
)


def test_a_lookup_by_digest_has_an_index(database: Database) -> None:
    if database.dialect == "postgresql":
        # Its planner reads a near-empty table whatever its indexes: the index is there.
        indexes = database.column("SELECT indexname FROM pg_indexes WHERE tablename = 'manifests'")
        assert "ix_manifests_digest" in indexes
        return
    plan = " ".join(
        str(row[-1]) for row in database.rows(f"EXPLAIN QUERY PLAN {BY_DIGEST}", ("sha256:x",))
    )
    assert "ix_manifests_digest" in plan, plan
