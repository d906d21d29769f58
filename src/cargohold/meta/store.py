"""The metadata store: manifests, tags, listings and storage accounting, and the way in.

`MetadataStore` is what the rest of cargohold holds. The self-contained concerns are
modules of their own over the shared `Database` (database.py), exposed as attributes:
`meta.blobs`, `meta.uploads`, `meta.tag_rules`, `meta.holds`, `meta.quotas`,
`meta.lifecycle_policies`, `meta.audit_log`. Every method is one short transaction:
raw statements on the Database's fast path, or its SQLAlchemy `read()` / `write()`.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cargohold.meta.audit import REGISTRY_API_DELETE, AuditLog
from cargohold.meta.blobs import BlobRecords
from cargohold.meta.database import Database
from cargohold.meta.fastpath import NO_LIMIT, Transaction
from cargohold.meta.holds import HoldMatcher, HoldRecords, HoldRow
from cargohold.meta.lifecycle_policies import LifecyclePolicyRecords
from cargohold.meta.models import (
    blobs,
    manifest_references,
    manifests,
    repositories,
    tags,
)
from cargohold.meta.quotas import QuotaRecords
from cargohold.meta.repositories import ensure_repository_id
from cargohold.meta.sums import joined, split_sum_sql
from cargohold.meta.tag_rules import TagRuleRecords
from cargohold.meta.uploads import UploadRecords
from cargohold.oci.manifests import Manifest
from cargohold.oci.names import project_of


@dataclass(frozen=True)
class StoredManifest:
    id: int
    digest: str
    media_type: str
    content: bytes
    subject_digest: str | None


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


class ReferencesGone(Exception):
    """Blobs or child manifests a manifest needs are not in its repository."""

    def __init__(self, missing: list[MissingReference]) -> None:
        self.missing = missing
        super().__init__(", ".join(m.digest for m in missing))


class SizesDiffer(Exception):
    """Descriptors whose declared size is not the size of the content stored under their digest.

    `mismatches`: (where, digest, declared, stored), in manifest order."""

    def __init__(self, mismatches: list[tuple[str, str, int, int]]) -> None:
        self.mismatches = mismatches
        super().__init__(", ".join(m[1] for m in mismatches))


class TagMoved(Exception):
    """An immutable tag already points to another manifest (`current_digest`)."""

    def __init__(self, current_digest: str) -> None:
        self.current_digest = current_digest
        super().__init__(current_digest)


@dataclass(frozen=True)
class ExpiringImage:
    """An image a lifecycle evaluation expired, as the evaluation saw it."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    # Untagged manifests that go only because this image goes (index children, referrers).
    dependents: tuple[str, ...]
    # The audit detail of each deletion.
    detail: dict[str, Any]


@dataclass(frozen=True)
class SkippedImage:
    """A manifest lifecycle expired but did not delete, and why."""

    digest: str
    reason: str


@dataclass
class ExpiryOutcome:
    # Every manifest deleted (images and what went with them), and the images among them.
    deleted: list[str] = field(default_factory=list)
    deleted_images: list[str] = field(default_factory=list)
    skipped: list[SkippedImage] = field(default_factory=list)


@dataclass(frozen=True)
class _CurrentManifest:
    id: int
    pushed_at: float
    tags: tuple[str, ...]  # sorted
    subject_digest: str | None


@dataclass(frozen=True)
class MissingReference:
    kind: str
    digest: str
    media_type: str


TAG_PAGE_CACHE_SIZE = 256


class MetadataStore:
    _BUMP_TAGS_VERSION = "UPDATE repositories SET tags_version = tags_version + 1 WHERE id = ?"

    def __init__(self, database: Database | Engine, link_grace_seconds: float = 3600.0) -> None:
        self.db = database if isinstance(database, Database) else Database(database)
        # A link to a blob that no manifest of the repository references counts (for quotas,
        # listings and sizes) only this long after it was made: the blob of a push whose
        # manifest has not arrived yet. The garbage collector's grace period, so what usage
        # counts is exactly what garbage collection must keep.
        self.link_grace_seconds = link_grace_seconds
        self.dialect = self.db.dialect
        # The self-contained concerns, each a module of its own over the same Database.
        self.uploads = UploadRecords(self.db)
        self.tag_rules = TagRuleRecords(self.db)
        self.holds = HoldRecords(self.db)
        self.quotas = QuotaRecords(self.db, link_grace_seconds)
        self.lifecycle_policies = LifecyclePolicyRecords(self.db)
        self.audit_log = AuditLog(self.db)
        self.blobs = BlobRecords(self.db, self.quotas)
        self._tag_pages: OrderedDict[
            tuple[str, str | None, int | None], tuple[int, tuple[str, ...]]
        ]
        self._tag_pages = OrderedDict()

    # -- plumbing -----------------------------------------------------------------------

    def _repository_id(self, conn: sa.Connection, name: str) -> int | None:
        return conn.execute(
            sa.select(repositories.c.id).where(repositories.c.name == name)
        ).scalar_one_or_none()

    def ping(self) -> None:
        with self.db.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- repositories -------------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        with self.db.read() as conn:
            return self._repository_id(conn, name) is not None

    def _link_cutoff(self) -> float:
        """Links made since this time are pushes in flight (see link_grace_seconds)."""
        return time.time() - self.link_grace_seconds

    # A repository is listed while it holds a manifest or a push into it is in flight. The row
    # itself stays (a push may be linking into it right now); an emptied repository drops out
    # of listings once its last links are older than the grace period.
    _LISTED = (
        "(EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)"
        " OR EXISTS (SELECT 1 FROM repository_blobs rb"
        " WHERE rb.repository_id = r.id AND rb.linked_at >= ?))"
    )

    def catalog(self, limit: int, last: str | None) -> list[str]:
        """Listed repositories in byte order after `last`."""
        return self.db.column(
            f"SELECT r.name FROM repositories r WHERE {self._LISTED} AND r.name > ?"
            " ORDER BY r.name LIMIT ?",
            (self._link_cutoff(), last or "", limit),
        )

    # -- manifests ----------------------------------------------------------------------

    def put_manifest(
        self,
        repository: str,
        digest: str,
        content: bytes,
        manifest: Manifest,
        tag: str | None,
        tag_is_immutable: bool = False,
    ) -> None:
        """Store a manifest and point `tag` at it.

        With `tag_is_immutable`, an existing tag that points elsewhere is left alone and
        TagMoved is raised; the whole push rolls back. The check runs inside the write
        transaction, so two racing pushes of one immutable tag cannot both win.
        """
        now = time.time()
        with self.db.transaction() as tx:
            repository_id = ensure_repository_id(tx, repository, now)
            self._verify_references(tx, repository_id, manifest)
            self._verify_reference_sizes(tx, repository_id, manifest)
            manifest_id = self._claim_manifest_row(
                tx, repository_id, digest, content, manifest, now
            )
            if tag is None:
                return
            if tag_is_immutable:
                # Never an upsert: a concurrent push of the same tag waits on the insert,
                # then finds the winner's row instead of overwriting it.
                created = tx.one(
                    "INSERT INTO tags (repository_id, name, manifest_id, updated_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (repository_id, name) DO NOTHING"
                    " RETURNING manifest_id",
                    (repository_id, tag, manifest_id, now),
                )
                if created is None:
                    current = tx.one(
                        "SELECT m.id, m.digest FROM tags t JOIN manifests m"
                        " ON m.id = t.manifest_id WHERE t.repository_id = ? AND t.name = ?",
                        (repository_id, tag),
                    )
                    assert current is not None
                    if int(current[0]) != manifest_id:
                        raise TagMoved(current[1])
                    return
                tx.execute(self._BUMP_TAGS_VERSION, (repository_id,))
                return
            tx.execute(self._BUMP_TAGS_VERSION, (repository_id,))
            tx.execute(
                "INSERT INTO tags (repository_id, name, manifest_id, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (repository_id, name) DO UPDATE"
                " SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at",
                (repository_id, tag, manifest_id, now),
            )

    def _claim_manifest_row(
        self,
        tx: Transaction,
        repository_id: int,
        digest: str,
        content: bytes,
        manifest: Manifest,
        now: float,
    ) -> int:
        """The manifest's row, inserted with its references or found (key-share-locked on
        PostgreSQL); its id.

        On PostgreSQL the lock waits for a delete holding the row (a lifecycle apply locks
        the rows it may delete): once that commits the row is gone and is inserted afresh,
        instead of a tag pointing at a deleted row. On SQLite writers are serialised.
        """
        lock = " FOR KEY SHARE" if self.dialect == "postgresql" else ""
        for _ in range(5):
            inserted = tx.one(
                "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, size,"
                " content, subject_digest, annotations, pushed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (repository_id, digest) DO NOTHING RETURNING id",
                (
                    repository_id,
                    digest,
                    manifest.media_type,
                    manifest.referrer_artifact_type,
                    len(content),
                    content,
                    manifest.subject.digest if manifest.subject else None,
                    json.dumps(manifest.annotations) if manifest.annotations else None,
                    now,
                ),
            )
            if inserted is not None:
                manifest_id = int(inserted[0])
                references = [
                    (manifest_id, i, kind, d.digest, d.size)
                    for i, (kind, d) in enumerate(manifest.references())
                ]
                if references:
                    tx.executemany(
                        "INSERT INTO manifest_references (manifest_id, position, kind, digest,"
                        " size) VALUES (?, ?, ?, ?, ?)",
                        references,
                    )
                return manifest_id
            existing = tx.one(
                f"SELECT id FROM manifests WHERE repository_id = ? AND digest = ?{lock}",
                (repository_id, digest),
            )
            if existing is not None:
                return int(existing[0])
        raise RuntimeError(f"manifest row {digest} keeps changing under a concurrent writer")

    def _verify_references(self, tx: Transaction, repository_id: int, manifest: Manifest) -> None:
        """Check, inside the write transaction, that the repository holds what the manifest needs.

        Raises ReferencesGone listing every missing descriptor in manifest order. On
        PostgreSQL the blob rows are share-locked, so a garbage collection deleting them
        waits for this push (and then sees the new references), or this push waits for it
        (and then fails cleanly). On SQLite writers are serialised anyway.
        """
        references = [
            (kind, d) for kind, d in manifest.references() if kind == "manifest" or not d.is_foreign
        ]
        blob_digests = sorted({d.digest for kind, d in references if kind != "manifest"})
        child_digests = sorted({d.digest for kind, d in references if kind == "manifest"})
        lock = " FOR SHARE OF b" if self.dialect == "postgresql" else ""
        present: set[str] = set()
        if blob_digests:
            marks = ", ".join("?" * len(blob_digests))
            present.update(
                tx.column(
                    "SELECT b.digest FROM blobs b JOIN repository_blobs rb ON rb.digest = b.digest"
                    f" WHERE rb.repository_id = ? AND b.stored AND b.digest IN ({marks}){lock}",
                    (repository_id, *blob_digests),
                )
            )
        if child_digests:
            marks = ", ".join("?" * len(child_digests))
            present.update(
                tx.column(
                    f"SELECT digest FROM manifests WHERE repository_id = ? AND digest IN ({marks})",
                    (repository_id, *child_digests),
                )
            )
        missing = [
            MissingReference(kind, d.digest, d.media_type)
            for kind, d in references
            if d.digest not in present
        ]
        if missing:
            raise ReferencesGone(missing)

    @staticmethod
    def _verify_reference_sizes(tx: Transaction, repository_id: int, manifest: Manifest) -> None:
        """Refuse descriptors whose size is not that of the stored content they name.

        A digest fixes its content, so a stored blob (or a child or subject manifest of this
        repository) fixes the size too; a size that lies would break every report built on
        the references. Content not stored (foreign layers, an absent subject) is taken as
        declared.
        """
        described = [(kind, d) for kind, d in manifest.references()]
        if manifest.subject is not None:
            described.append(("subject", manifest.subject))
        blob_digests = sorted({d.digest for kind, d in described if kind in ("config", "layer")})
        manifest_digests = sorted(
            {d.digest for kind, d in described if kind in ("manifest", "subject")}
        )
        stored: dict[tuple[str, str], int] = {}
        for start in range(0, len(blob_digests), 500):
            chunk = blob_digests[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for digest, size in tx.rows(
                f"SELECT digest, size FROM blobs WHERE digest IN ({marks})", chunk
            ):
                stored["blob", digest] = int(size)
        for start in range(0, len(manifest_digests), 500):
            chunk = manifest_digests[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for digest, size in tx.rows(
                "SELECT digest, size FROM manifests WHERE repository_id = ?"
                f" AND digest IN ({marks})",
                (repository_id, *chunk),
            ):
                stored["manifest", digest] = int(size)
        mismatches = []
        for kind, d in described:
            actual = stored.get(("blob" if kind in ("config", "layer") else "manifest", d.digest))
            if actual is not None and actual != d.size:
                mismatches.append((kind, d.digest, d.size, actual))
        if mismatches:
            raise SizesDiffer(mismatches)

    def find_manifest(
        self, repository: str, reference: str, by_digest: bool
    ) -> StoredManifest | None:
        """The manifest `reference` names (a digest when `by_digest`, else a tag), or None.

        A plain lookup: RegistryService.get_manifest is the pull, with its checks and gates."""
        columns = "m.id, m.digest, m.media_type, m.content, m.subject_digest"
        if by_digest:
            sql = (
                f"SELECT {columns} FROM manifests m JOIN repositories r ON r.id = m.repository_id"
                " WHERE r.name = ? AND m.digest = ?"
            )
        else:
            sql = (
                f"SELECT {columns} FROM tags t JOIN manifests m ON m.id = t.manifest_id"
                " JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND t.name = ?"
            )
        row = self.db.one(sql, (repository, reference))
        if row is None:
            return None
        manifest_id, digest, media_type, content, subject_digest = row
        return StoredManifest(manifest_id, digest, media_type, bytes(content), subject_digest)

    @staticmethod
    def _delete_manifest_rows(tx: Transaction, manifest_id: int) -> int:
        """Delete a manifest with its tags and references; returns how many tags it had."""
        untagged = tx.execute("DELETE FROM tags WHERE manifest_id = ?", (manifest_id,))
        tx.execute("DELETE FROM manifest_references WHERE manifest_id = ?", (manifest_id,))
        tx.execute("DELETE FROM manifests WHERE id = ?", (manifest_id,))
        return untagged

    def delete_manifest(self, repository: str, digest: str, actor: str) -> bool:
        """Delete a manifest, its tags and its references from one repository; audited with
        the tags it had, in the same transaction."""
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT m.id, r.id FROM manifests m JOIN repositories r ON r.id = m.repository_id"
                " WHERE r.name = ? AND m.digest = ?",
                (repository, digest),
            )
            if row is None:
                return False
            manifest_id, repository_id = row
            had_tags = sorted(
                tx.column("SELECT name FROM tags WHERE manifest_id = ?", (manifest_id,))
            )
            if self._delete_manifest_rows(tx, manifest_id):
                tx.execute(self._BUMP_TAGS_VERSION, (repository_id,))
            detail = {**REGISTRY_API_DELETE, "tags": had_tags}
            self.db.audit(
                tx, time.time(), actor, "manifest.delete", f"{repository}@{digest}", detail
            )
            return True

    def delete_tag(self, repository: str, tag: str, actor: str) -> bool:
        """Remove one tag (the manifest stays); audited with the digest it pointed to."""
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT r.id, m.digest FROM tags t JOIN repositories r ON r.id = t.repository_id"
                " JOIN manifests m ON m.id = t.manifest_id WHERE r.name = ? AND t.name = ?",
                (repository, tag),
            )
            if row is None:
                return False
            repository_id, digest = row
            if not tx.execute(
                "DELETE FROM tags WHERE repository_id = ? AND name = ?", (repository_id, tag)
            ):
                return False
            tx.execute(self._BUMP_TAGS_VERSION, (repository_id,))
            detail = {**REGISTRY_API_DELETE, "digest": digest}
            self.db.audit(tx, time.time(), actor, "tag.delete", f"{repository}:{tag}", detail)
            return True

    def list_tags(self, repository: str, limit: int | None, last: str | None) -> list[str] | None:
        """Tag names in byte order after `last`; None when the repository does not exist.

        Pages are cached per process under the repository's tags version, which every tag
        change bumps in its own transaction; a stale page is never served.
        """
        row = self.db.one("SELECT id, tags_version FROM repositories WHERE name = ?", (repository,))
        if row is None:
            return None
        repository_id, version = row
        key = (repository, last, limit)
        cached = self._tag_pages.get(key)
        if cached is not None and cached[0] == version:
            self._tag_pages.move_to_end(key)
            return list(cached[1])
        names = self.db.column(
            "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
            (repository_id, last or "", NO_LIMIT if limit is None else limit),
        )
        self._tag_pages[key] = (version, tuple(names))
        while len(self._tag_pages) > TAG_PAGE_CACHE_SIZE:
            self._tag_pages.popitem(last=False)
        return names

    def referrers(
        self, repository: str, subject_digest: str
    ) -> list[tuple[str, str, int, str | None, str | None]]:
        """(digest, media type, size, artifact type, annotations JSON) of each referrer."""
        query = (
            sa.select(
                manifests.c.digest,
                manifests.c.media_type,
                manifests.c.size,
                manifests.c.artifact_type,
                manifests.c.annotations,
            )
            .select_from(
                manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
            )
            .where(repositories.c.name == repository, manifests.c.subject_digest == subject_digest)
            .order_by(manifests.c.pushed_at, manifests.c.digest)
        )
        with self.db.read() as conn:
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]

    def record_pulls(self, pulls: dict[int, float]) -> None:
        """Store last-pull times in one batch; never move a time backwards."""
        if not pulls:
            return
        rows = [(at, manifest_id, at) for manifest_id, at in sorted(pulls.items())]
        with self.db.transaction() as tx:
            tx.executemany(
                "UPDATE manifests SET last_pulled_at = ?"
                " WHERE id = ? AND (last_pulled_at IS NULL OR last_pulled_at < ?)",
                rows,
            )

    # -- admin views --------------------------------------------------------------------

    def system_counts(self) -> dict[str, int]:
        listed = self.db.one(
            f"SELECT COUNT(*) FROM repositories r WHERE {self._LISTED}", (self._link_cutoff(),)
        )
        assert listed is not None
        with self.db.read() as conn:
            return {
                "repositories": int(listed[0]),
                "manifests": conn.execute(
                    sa.select(sa.func.count()).select_from(manifests)
                ).scalar_one(),
                "tags": conn.execute(sa.select(sa.func.count()).select_from(tags)).scalar_one(),
                "blobs": conn.execute(sa.select(sa.func.count()).select_from(blobs)).scalar_one(),
                "blob_bytes": int(
                    conn.execute(
                        sa.select(sa.func.coalesce(sa.func.sum(blobs.c.size), 0))
                    ).scalar_one()
                ),
            }

    def repository_summaries(self, limit: int, last: str | None) -> list[dict[str, object]]:
        """Name, counts and size of each listed repository (see catalog).

        Size is the bytes of the distinct blobs the repository's manifests reference or a
        push in flight linked (the quota's measure), plus its manifests.
        """
        cutoff = self._link_cutoff()
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
            f" FROM repositories r WHERE {self._LISTED} AND r.name > ?"
            " ORDER BY r.name LIMIT ?",
            (cutoff, cutoff, last or "", limit),
        )
        return [
            {
                "name": name,
                "manifests": int(manifest_count),
                "tags": int(tag_count),
                # PostgreSQL sums BIGINTs as NUMERIC.
                "size_bytes": int(size),
                "last_pushed_at": last_pushed_at,
            }
            for name, manifest_count, tag_count, size, last_pushed_at in rows
        ]

    def tag_details(self, repository: str) -> list[dict[str, object]] | None:
        """Each tag with its manifest's digest, media type, size, push and last pull time.

        Size here is the manifest's own bytes; the image's size, with what it references and
        what goes with it, is ManifestGraph.image_size (services/inventory.py).
        """
        with self.db.read() as conn:
            repository_id = self._repository_id(conn, repository)
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
            {
                "tag": row.name,
                "digest": row.digest,
                "media_type": row.media_type,
                "size_bytes": row.size,
                "pushed_at": row.pushed_at,
                "tagged_at": row.updated_at,
                "last_pulled_at": row.last_pulled_at,
            }
            for row in rows
        ]

    # -- lifecycle facts ----------------------------------------------------------------

    def repository_manifests(self, repository: str) -> list[ManifestFacts] | None:
        """Every manifest of a repository with its tags and references; None if unknown."""
        with self.db.read() as conn:
            repository_id = self._repository_id(conn, repository)
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
            )
            for row in rows
        ]

    def blobs_referenced_outside(self, repository: str, digests: Iterable[str]) -> set[str]:
        """Which of `digests` a manifest of another repository references."""
        wanted = sorted(set(digests))
        found: set[str] = set()
        with self.db.read() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
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

    def tag_digest(self, repository: str, tag: str) -> str | None:
        row = self.db.one(
            "SELECT m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id"
            " JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND t.name = ?",
            (repository, tag),
        )
        return row[0] if row else None

    def manifest_tags(self, repository: str, digest: str) -> list[str]:
        return self.db.column(
            "SELECT t.name FROM tags t JOIN manifests m ON m.id = t.manifest_id"
            " JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?"
            " ORDER BY t.name",
            (repository, digest),
        )

    def delete_expiring_images(
        self,
        repository: str,
        images: list[ExpiringImage],
        actor: str,
        covering_hold: HoldMatcher,
    ) -> ExpiryOutcome:
        """Delete the images a lifecycle evaluation expired, if they are still as it saw them.

        Compare-and-delete, in one write transaction: an image whose tags or push time
        changed since the evaluation, that an active hold now covers (`covering_hold`
        applies the hold rules to the hold rows read here), that a manifest outside the
        deletion now lists, or that is gone, is skipped with the reason; so are the
        manifests that would only have gone with it. On PostgreSQL the manifest rows are
        locked first, so a push that tags one of them waits for this transaction (and then
        finds it gone and pushes it again) or this one waits for the push (and then sees
        the tag); the holds table is share-locked, so adding a hold waits the same way.
        On SQLite writers are serialised anyway. Each deletion is audited with its detail.
        """
        outcome = ExpiryOutcome()
        with self.db.transaction() as tx:
            row = tx.one("SELECT id FROM repositories WHERE name = ?", (repository,))
            if row is None:
                outcome.skipped = [SkippedImage(i.digest, "already gone") for i in images]
                return outcome
            repository_id = row[0]
            wanted = sorted({d for i in images for d in (i.digest, *i.dependents)})
            current = self._lock_manifests(tx, repository_id, wanted)
            now = time.time()
            hold_rows = self.holds.for_repository_in(tx, repository, project_of(repository))
            going: dict[str, ExpiringImage] = {}
            for image in images:
                reason = self._changed_since_evaluation(
                    image, current.get(image.digest), hold_rows, repository, now, covering_hold
                )
                if reason is None:
                    going[image.digest] = image
                else:
                    outcome.skipped.append(SkippedImage(image.digest, reason))
            skipped_roots = {s.digest for s in outcome.skipped}
            kept_with_skipped = {
                d for i in images if i.digest in skipped_roots for d in i.dependents
            }
            doomed = {
                d: image
                for image in going.values()
                for d in (image.digest, *image.dependents)
                if d in current and (d == image.digest or d not in kept_with_skipped)
            }
            for image in going.values():
                for dependent in image.dependents:
                    if dependent in doomed and current[dependent].tags:
                        del doomed[dependent]
                        outcome.skipped.append(SkippedImage(dependent, "tags changed"))
            self._keep_what_others_need(tx, repository_id, current, doomed, outcome)
            for digest in sorted(doomed):
                image = doomed[digest]
                self._delete_manifest_rows(tx, current[digest].id)
                self.db.audit(
                    tx, now, actor, "manifest.delete", f"{repository}@{digest}", image.detail
                )
                outcome.deleted.append(digest)
            outcome.deleted_images = sorted(d for d in going if d in doomed)
            if doomed:
                tx.execute(self._BUMP_TAGS_VERSION, (repository_id,))
        return outcome

    def _lock_manifests(
        self, tx: Transaction, repository_id: int, digests: list[str]
    ) -> dict[str, _CurrentManifest]:
        """The current state of those manifests, their rows locked on PostgreSQL."""
        found: dict[str, _CurrentManifest] = {}
        if self.dialect == "postgresql":
            # Holds first, then manifests in digest order: every apply takes them the same way.
            tx.execute("LOCK TABLE holds IN SHARE MODE")
        lock = " ORDER BY digest FOR UPDATE" if self.dialect == "postgresql" else ""
        for start in range(0, len(digests), 500):
            chunk = digests[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = tx.rows(
                "SELECT id, digest, pushed_at, subject_digest FROM manifests"
                f" WHERE repository_id = ? AND digest IN ({marks}){lock}",
                (repository_id, *chunk),
            )
            ids = [int(r[0]) for r in rows]
            tags_by_id: dict[int, list[str]] = {}
            if ids:
                id_marks = ", ".join("?" * len(ids))
                for manifest_id, name in tx.rows(
                    f"SELECT manifest_id, name FROM tags WHERE manifest_id IN ({id_marks})", ids
                ):
                    tags_by_id.setdefault(int(manifest_id), []).append(name)
            for manifest_id, digest, pushed_at, subject in rows:
                found[digest] = _CurrentManifest(
                    int(manifest_id),
                    float(pushed_at),
                    tuple(sorted(tags_by_id.get(int(manifest_id), ()))),
                    subject,
                )
        return found

    @staticmethod
    def _changed_since_evaluation(
        image: ExpiringImage,
        now_is: _CurrentManifest | None,
        hold_rows: list[HoldRow],
        repository: str,
        now: float,
        covering_hold: HoldMatcher,
    ) -> str | None:
        """Why an expiring image may no longer be deleted, or None if it still may."""
        if now_is is None:
            return "already gone"
        if now_is.pushed_at != image.pushed_at:
            return "pushed again"
        if now_is.tags != tuple(sorted(image.tags)):
            return "tags changed"
        hold = covering_hold(hold_rows, repository, image.digest, now)
        if hold is not None:
            return f"held by hold {hold.id}"
        return None

    @staticmethod
    def _keep_what_others_need(
        tx: Transaction,
        repository_id: int,
        current: dict[str, _CurrentManifest],
        doomed: dict[str, ExpiringImage],
        outcome: ExpiryOutcome,
    ) -> None:
        """Take out of `doomed` what a manifest that stays now needs, transitively.

        An index pushed since the evaluation may list an expiring manifest; a child or a
        referrer kept that way keeps what it lists, and a kept manifest keeps its referrers.
        """
        if not doomed:
            return
        listed_by: dict[str, set[str]] = {}
        wanted = sorted(doomed)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for parent, child in tx.rows(
                "SELECT m.digest, r.digest FROM manifest_references r JOIN manifests m"
                " ON m.id = r.manifest_id WHERE m.repository_id = ? AND r.kind = 'manifest'"
                f" AND r.digest IN ({marks})",
                (repository_id, *chunk),
            ):
                listed_by.setdefault(child, set()).add(parent)
        changed = True
        while changed:
            changed = False
            for digest in sorted(doomed):
                outside = sorted(p for p in listed_by.get(digest, ()) if p not in doomed)
                subject = current[digest].subject_digest
                if outside:
                    reason = f"listed by {outside[0]}"
                elif (
                    digest != doomed[digest].digest
                    and subject in current
                    and (subject not in doomed)
                ):
                    reason = f"kept with {subject}"
                else:
                    continue
                del doomed[digest]
                outcome.skipped.append(SkippedImage(digest, reason))
                changed = True

    # -- mounts and garbage collection ---------------------------------------------------

    # -- storage accounting ---------------------------------------------------------------

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
                (self._link_cutoff(),),
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

    def delete_untagged_manifests(self, repository: str, digests: list[str], actor: str) -> int:
        """Delete manifests that are still untagged and that nothing outside the set needs.

        Re-checked inside the transaction: a manifest tagged, or listed by a new index, since
        the caller looked is kept.
        """
        doomed = set(digests)
        now = time.time()
        deleted = 0
        with self.db.transaction() as tx:
            row = tx.one("SELECT id FROM repositories WHERE name = ?", (repository,))
            if row is None:
                return 0
            repository_id = row[0]
            for digest in digests:
                found = tx.one(
                    "SELECT id FROM manifests WHERE repository_id = ? AND digest = ?",
                    (repository_id, digest),
                )
                if found is None:
                    continue
                if tx.one("SELECT 1 FROM tags WHERE manifest_id = ?", (found[0],)):
                    continue
                parents = tx.column(
                    "SELECT m.digest FROM manifest_references r JOIN manifests m"
                    " ON m.id = r.manifest_id WHERE m.repository_id = ? AND r.kind = 'manifest'"
                    " AND r.digest = ?",
                    (repository_id, digest),
                )
                if any(parent not in doomed for parent in parents):
                    continue
                self._delete_manifest_rows(tx, found[0])
                self.db.audit(
                    tx,
                    now,
                    actor,
                    "manifest.delete",
                    f"{repository}@{digest}",
                    {"reason": "garbage collection: untagged"},
                )
                deleted += 1
        return deleted
