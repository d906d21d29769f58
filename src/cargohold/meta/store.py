"""The metadata store: manifests and tags, and the way in.

`MetadataStore` is what the rest of cargohold holds. The self-contained concerns are
modules of their own over the shared `Database` (database.py), exposed as attributes:
`meta.blobs`, `meta.uploads`, `meta.tag_rules`, `meta.holds`, `meta.quotas`,
`meta.lifecycle_policies`, `meta.audit_log`, `meta.listings`, `meta.accounting`,
`meta.deletions`. Every method is one short transaction:
raw statements on the Database's fast path, or its SQLAlchemy `read()` / `write()`.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cargohold.meta.accounting import StorageAccounting
from cargohold.meta.audit import REGISTRY_API_DELETE, AuditLog
from cargohold.meta.blobs import BlobRecords
from cargohold.meta.database import Database
from cargohold.meta.deletions import ManifestDeletions, delete_manifest_rows
from cargohold.meta.fastpath import NO_LIMIT, Transaction
from cargohold.meta.holds import HoldRecords
from cargohold.meta.lifecycle_policies import LifecyclePolicyRecords
from cargohold.meta.listings import Listings
from cargohold.meta.models import (
    manifests,
    repositories,
)
from cargohold.meta.quotas import QuotaRecords
from cargohold.meta.repositories import (
    BUMP_TAGS_VERSION,
    LISTED,
    ensure_repository_id,
    repository_id_of,
)
from cargohold.meta.tag_rules import TagRuleRecords
from cargohold.meta.uploads import UploadRecords
from cargohold.oci.manifests import Manifest


@dataclass(frozen=True)
class StoredManifest:
    id: int
    digest: str
    media_type: str
    content: bytes
    subject_digest: str | None


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
class MissingReference:
    kind: str
    digest: str
    media_type: str


TAG_PAGE_CACHE_SIZE = 256


class MetadataStore:
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
        self.listings = Listings(self.db, link_grace_seconds)
        self.accounting = StorageAccounting(self.db, link_grace_seconds)
        self.deletions = ManifestDeletions(self.db, self.holds)
        self._tag_pages: OrderedDict[
            tuple[str, str | None, int | None], tuple[int, tuple[str, ...]]
        ]
        self._tag_pages = OrderedDict()

    # -- plumbing -----------------------------------------------------------------------

    def ping(self) -> None:
        with self.db.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- repositories -------------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        with self.db.read() as conn:
            return repository_id_of(conn, name) is not None

    def catalog(self, limit: int, last: str | None) -> list[str]:
        """Listed repositories in byte order after `last`."""
        return self.db.column(
            f"SELECT r.name FROM repositories r WHERE {LISTED} AND r.name > ?"
            " ORDER BY r.name LIMIT ?",
            (time.time() - self.link_grace_seconds, last or "", limit),
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
                tx.execute(BUMP_TAGS_VERSION, (repository_id,))
                return
            tx.execute(BUMP_TAGS_VERSION, (repository_id,))
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
            if delete_manifest_rows(tx, manifest_id):
                tx.execute(BUMP_TAGS_VERSION, (repository_id,))
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
            tx.execute(BUMP_TAGS_VERSION, (repository_id,))
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
