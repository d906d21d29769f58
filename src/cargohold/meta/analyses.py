"""Stored image analyses: one JSON document per image manifest digest (raw statements on the
Database's fast path, decision 019)."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.meta.database import Database


@dataclass(frozen=True)
class StoredAnalysis:
    digest: str
    format_version: int
    analyzed_at: float
    document: bytes


class AnalysisRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, digest: str) -> StoredAnalysis | None:
        row = self.db.one(
            "SELECT digest, format_version, analyzed_at, document FROM image_analyses"
            " WHERE digest = ?",
            (digest,),
        )
        if row is None:
            return None
        return StoredAnalysis(row[0], int(row[1]), float(row[2]), str(row[3]).encode())

    def put(self, digest: str, format_version: int, analyzed_at: float, document: bytes) -> None:
        """Store (or replace) the analysis of `digest`. Two servers analyzing one image at
        once store equal documents: the later replaces the earlier (an upsert on both stores)."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO image_analyses (digest, format_version, analyzed_at, document)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET"
                " format_version = excluded.format_version, analyzed_at = excluded.analyzed_at,"
                " document = excluded.document",
                (digest, format_version, analyzed_at, document.decode()),
            )
