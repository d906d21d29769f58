"""Repository listings and the facts lifecycle and reports read: system counts, repository
summaries, tag details, every manifest of a repository with its tags and references."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from cargohold.meta.database import Database, in_batches
from cargohold.meta.models import manifest_references, manifests, repositories, tags
from cargohold.meta.repositories import LISTED, repository_id_of
from cargohold.meta.sums import joined, split_sum_sql


@dataclass(frozen=True)
class SystemCounts:
    """What the registry holds: listed repositories, manifests, tags, blobs and their bytes."""

    repositories: int
    manifests: int
    tags: int
    blobs: int
    blob_bytes: int


@dataclass(frozen=True)
class StoreTotals:
    """What the metrics show of the store: counts and bytes, and the open upload sessions."""

    repositories: int
    manifests: int
    manifest_bytes: int
    tags: int
    blobs: int
    blob_bytes: int
    upload_sessions: int


@dataclass(frozen=True)
class RepositorySummary:
    """A listed repository: its counts, its size (the quota's measure) and last push."""

    name: str
    manifests: int
    tags: int
    size: int
    last_pushed_at: float | None


@dataclass(frozen=True)
class TagDetail:
    """A tag with its manifest; `size` is the manifest's own bytes as read here (the
    listing service replaces it with the image's size)."""

    tag: str
    digest: str
    media_type: str
    size: int
    pushed_at: float
    tagged_at: float
    last_pulled_at: float | None


@dataclass(frozen=True)
class ManifestFacts:
    """A manifest as lifecycle and storage reports see it."""

    digest: str
    media_type: str
    size: int
    subject_digest: str | None
    pushed_at: float
    last_pulled_at: float | None
    tags: tuple[str, ...]
    # (kind, digest, size): kind is "config", "layer" or "manifest" (an index child).
    references: tuple[tuple[str, str, int], ...]
    artifact_type: str | None = None


class Listings:
    def __init__(self, db: Database, link_grace_seconds: float) -> None:
        self.db = db
        # Links younger than this count (see MetadataStore.link_grace_seconds).
        self.link_grace_seconds = link_grace_seconds

    def system_counts(self) -> SystemCounts:
        """The store totals /api/v1/system shows (one statement: store_totals)."""
        totals = self.store_totals()
        return SystemCounts(
            repositories=totals.repositories,
            manifests=totals.manifests,
            tags=totals.tags,
            blobs=totals.blobs,
            blob_bytes=totals.blob_bytes,
        )

    def store_totals(self) -> StoreTotals:
        """One statement (a scrape of /metrics reads it; metrics/store.py caches it)."""
        row = self.db.one(
            "SELECT * FROM"
            f" (SELECT COUNT(*) FROM repositories r WHERE {LISTED}) listed,"
            " (SELECT COUNT(*), COALESCE(SUM(size), 0) FROM manifests) stored_manifests,"
            " (SELECT COUNT(*) FROM tags) all_tags,"
            f" (SELECT COUNT(*), {split_sum_sql('size')} FROM blobs) stored_blobs,"
            " (SELECT COUNT(*) FROM uploads) open_uploads",
            (time.time() - self.link_grace_seconds,),
        )
        assert row is not None
        repos, manifest_count, manifest_bytes, tag_count, blob_count, high, low, uploads = row
        return StoreTotals(
            repositories=int(repos),
            manifests=int(manifest_count),
            manifest_bytes=int(manifest_bytes),
            tags=int(tag_count),
            blobs=int(blob_count),
            blob_bytes=joined(high, low),
            upload_sessions=int(uploads),
        )

    def repository_summaries(self, limit: int, last: str | None) -> list[RepositorySummary]:
        """Name, counts and size of each listed repository (see catalog).

        Size is the bytes of the distinct blobs the repository's manifests reference or a
        push in flight linked (the quota's measure), plus its manifests.
        """
        cutoff = time.time() - self.link_grace_seconds
        rows = self.db.rows(
            "SELECT r.name,"
            " (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id),"
            " (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id),"
            " (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN ("
            "   SELECT mr.digest FROM manifest_references mr"
            "   JOIN manifests m ON m.id = mr.manifest_id"
            "   WHERE m.repository_id = r.id AND mr.kind <> 'manifest'"
            "   UNION SELECT rb.digest FROM repository_blobs rb"
            "   WHERE rb.repository_id = r.id AND rb.linked_at >= ?))"
            " + (SELECT COALESCE(SUM(m.size), 0) FROM manifests m WHERE m.repository_id = r.id),"
            " (SELECT MAX(m.pushed_at) FROM manifests m WHERE m.repository_id = r.id)"
            f" FROM repositories r WHERE {LISTED} AND r.name > ?"
            " ORDER BY r.name LIMIT ?",
            (cutoff, cutoff, last or "", limit),
        )
        return [
            RepositorySummary(
                name=name,
                manifests=int(manifest_count),
                tags=int(tag_count),
                # PostgreSQL sums BIGINTs as NUMERIC.
                size=int(size),
                last_pushed_at=last_pushed_at,
            )
            for name, manifest_count, tag_count, size, last_pushed_at in rows
        ]

    def tag_details(self, repository: str) -> list[TagDetail] | None:
        """Each tag with its manifest's digest, media type, size, push and last pull time.

        Size here is the manifest's own bytes; the image's size, with what it references and
        what goes with it, is ManifestGraph.image_size (services/inventory.py).
        """
        with self.db.read() as conn:
            repository_id = repository_id_of(conn, repository)
            if repository_id is None:
                return None
            rows = conn.execute(
                sa.select(
                    tags.c.name,
                    manifests.c.digest,
                    manifests.c.media_type,
                    manifests.c.size,
                    manifests.c.pushed_at,
                    manifests.c.last_pulled_at,
                    tags.c.updated_at,
                )
                .select_from(tags.join(manifests, manifests.c.id == tags.c.manifest_id))
                .where(tags.c.repository_id == repository_id)
                .order_by(tags.c.name)
            ).all()
        return [
            TagDetail(
                tag=row.name,
                digest=row.digest,
                media_type=row.media_type,
                size=int(row.size),
                pushed_at=row.pushed_at,
                tagged_at=row.updated_at,
                last_pulled_at=row.last_pulled_at,
            )
            for row in rows
        ]

    def repository_manifests(self, repository: str) -> list[ManifestFacts] | None:
        """Every manifest of a repository with its tags and references; None if unknown."""
        with self.db.read() as conn:
            repository_id = repository_id_of(conn, repository)
            if repository_id is None:
                return None
            rows = conn.execute(
                sa.select(
                    manifests.c.id,
                    manifests.c.digest,
                    manifests.c.media_type,
                    manifests.c.size,
                    manifests.c.subject_digest,
                    manifests.c.pushed_at,
                    manifests.c.last_pulled_at,
                    manifests.c.artifact_type,
                ).where(manifests.c.repository_id == repository_id)
            ).all()
            tag_rows = conn.execute(
                sa.select(tags.c.manifest_id, tags.c.name)
                .where(tags.c.repository_id == repository_id)
                .order_by(tags.c.name)
            ).all()
            ref_rows = conn.execute(
                sa.select(
                    manifest_references.c.manifest_id,
                    manifest_references.c.kind,
                    manifest_references.c.digest,
                    manifest_references.c.size,
                )
                .select_from(
                    manifest_references.join(
                        manifests, manifests.c.id == manifest_references.c.manifest_id
                    )
                )
                .where(manifests.c.repository_id == repository_id)
                .order_by(manifest_references.c.manifest_id, manifest_references.c.position)
            ).all()
        tags_by_id: dict[int, list[str]] = {}
        for manifest_id, name in tag_rows:
            tags_by_id.setdefault(manifest_id, []).append(name)
        refs_by_id: dict[int, list[tuple[str, str, int]]] = {}
        for manifest_id, kind, digest, size in ref_rows:
            refs_by_id.setdefault(manifest_id, []).append((kind, digest, int(size)))
        return [
            ManifestFacts(
                digest=row.digest,
                media_type=row.media_type,
                size=int(row.size),
                subject_digest=row.subject_digest,
                pushed_at=row.pushed_at,
                last_pulled_at=row.last_pulled_at,
                tags=tuple(tags_by_id.get(row.id, ())),
                references=tuple(refs_by_id.get(row.id, ())),
                artifact_type=row.artifact_type,
            )
            for row in rows
        ]

    def blobs_referenced_outside(self, repository: str, digests: Iterable[str]) -> set[str]:
        """Which of `digests` a manifest of another repository references."""
        wanted = sorted(set(digests))
        found: set[str] = set()
        with self.db.read() as conn:
            for chunk, _ in in_batches(wanted):
                found.update(
                    conn.execute(
                        sa.select(manifest_references.c.digest)
                        .distinct()
                        .select_from(
                            manifest_references.join(
                                manifests, manifests.c.id == manifest_references.c.manifest_id
                            ).join(repositories, repositories.c.id == manifests.c.repository_id)
                        )
                        .where(
                            repositories.c.name != repository,
                            manifest_references.c.digest.in_(chunk),
                        )
                    ).scalars()
                )
        return found
