"""Manifests: the push (with its reference checks), lookups, deletes, referrers and pulls.

A manifest PUT ends here: `ManifestRecords.put` checks, inside its write transaction, that the
repository holds every blob and child manifest the manifest names with the sizes it declares,
stores the manifest with its references and points the tag at it. Every statement is raw on
the Database's fast path (docs/decisions/019-one-sql-style.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from cargohold.meta.audit import REGISTRY_API_DELETE, audit_manifest_delete
from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database, in_batches
from cargohold.meta.deletions import delete_accessories, delete_manifest_rows
from cargohold.meta.fastpath import Transaction
from cargohold.meta.referrer_cascade import delete_referrers
from cargohold.meta.repositories import BUMP_TAGS_VERSION, ensure_repository_id
from cargohold.meta.tags import TagMoved
from cargohold.oci.manifests import Manifest


@dataclass(frozen=True)
class StoredManifest:
    id: int
    digest: str
    media_type: str
    content: bytes
    subject_digest: str | None


@dataclass(frozen=True)
class MissingReference:
    kind: str
    digest: str
    media_type: str


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


class ManifestRecords:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.dialect

    def put(
        self,
        repository: str,
        digest: str,
        content: bytes,
        manifest: Manifest,
        tag: str | None,
        tag_is_immutable: bool,
        actor: Actor,
    ) -> None:
        """Store a manifest and point `tag` at it; audited (`manifest.push`, and `tag.move`
        when the tag pointed at another manifest) in the same transaction.

        With `tag_is_immutable`, an existing tag that points elsewhere is left alone and
        TagMoved is raised; the whole push rolls back. The check runs inside the write
        transaction, so two racing pushes of one immutable tag cannot both win.
        """
        now = time.time()
        with self.db.transaction() as tx:
            repository_id = ensure_repository_id(tx, repository, now)
            known = self._verify_references(tx, repository_id, manifest)
            self._verify_reference_sizes(tx, repository_id, manifest, known)
            manifest_id = self._claim_manifest_row(
                tx, repository_id, digest, content, manifest, now
            )
            moved_from = None
            if tag is not None:
                moved_from = self._point_tag(
                    tx, repository_id, tag, manifest_id, tag_is_immutable, now
                )
            reference = digest if tag is None else tag
            target = f"{repository}@{digest}" if tag is None else f"{repository}:{tag}"
            fields = {"repository": repository, "reference": reference, "digest": digest}
            detail = {"mediaType": manifest.media_type}
            self.db.audit(tx, now, actor, "manifest.push", target, detail, **fields)
            if moved_from is not None:
                detail = {"previousDigest": moved_from}
                self.db.audit(tx, now, actor, "tag.move", target, detail, **fields)

    def _point_tag(
        self,
        tx: Transaction,
        repository_id: int,
        tag: str,
        manifest_id: int,
        immutable: bool,
        now: float,
    ) -> str | None:
        """Point the tag at the manifest; the digest it pointed at before, when it moved."""
        if immutable:
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
                return None
            tx.execute(BUMP_TAGS_VERSION, (repository_id,))
            return None
        # The tag's manifest before this push (locked on PostgreSQL: the upsert would lock
        # it anyway), so a move is audited with where the tag pointed.
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        previous = tx.one(
            f"SELECT manifest_id FROM tags WHERE repository_id = ? AND name = ?{lock}",
            (repository_id, tag),
        )
        tx.execute(BUMP_TAGS_VERSION, (repository_id,))
        tx.execute(
            "INSERT INTO tags (repository_id, name, manifest_id, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (repository_id, name) DO UPDATE"
            " SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at",
            (repository_id, tag, manifest_id, now),
        )
        if previous is None or int(previous[0]) == manifest_id:
            return None
        moved_from = tx.one("SELECT digest FROM manifests WHERE id = ?", (previous[0],))
        return None if moved_from is None else str(moved_from[0])

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

    def _verify_references(
        self, tx: Transaction, repository_id: int, manifest: Manifest
    ) -> dict[tuple[str, str], int]:
        """Check, inside the write transaction, that the repository holds what the manifest needs.

        Raises ReferencesGone listing every missing descriptor in manifest order. On
        PostgreSQL the blob rows are share-locked, so a garbage collection deleting them
        waits for this push (and then sees the new references), or this push waits for it
        (and then fails cleanly). On SQLite writers are serialised anyway. Returns the sizes
        of what it found, by ("blob" or "manifest", digest), for _verify_reference_sizes.
        """
        references = [
            (kind, d) for kind, d in manifest.references() if kind == "manifest" or not d.is_foreign
        ]
        blob_digests = sorted({d.digest for kind, d in references if kind != "manifest"})
        child_digests = sorted({d.digest for kind, d in references if kind == "manifest"})
        lock = " FOR SHARE OF b" if self.dialect == "postgresql" else ""
        known: dict[tuple[str, str], int] = {}
        if blob_digests:
            marks = ", ".join("?" * len(blob_digests))
            for digest, size in tx.rows(
                "SELECT b.digest, b.size FROM blobs b JOIN repository_blobs rb"
                " ON rb.digest = b.digest"
                f" WHERE rb.repository_id = ? AND b.stored AND b.digest IN ({marks}){lock}",
                (repository_id, *blob_digests),
            ):
                known["blob", digest] = int(size)
        if child_digests:
            marks = ", ".join("?" * len(child_digests))
            for digest, size in tx.rows(
                "SELECT digest, size FROM manifests WHERE repository_id = ?"
                f" AND digest IN ({marks})",
                (repository_id, *child_digests),
            ):
                known["manifest", digest] = int(size)
        missing = [
            MissingReference(kind, d.digest, d.media_type)
            for kind, d in references
            if ("manifest" if kind == "manifest" else "blob", d.digest) not in known
        ]
        if missing:
            raise ReferencesGone(missing)
        return known

    @staticmethod
    def _verify_reference_sizes(
        tx: Transaction,
        repository_id: int,
        manifest: Manifest,
        known: dict[tuple[str, str], int],
    ) -> None:
        """Refuse descriptors whose size is not that of the stored content they name.

        A digest fixes its content, so a stored blob (or a child or subject manifest of this
        repository) fixes the size too; a size that lies would break every report built on
        the references. Content not stored (foreign layers, an absent subject) is taken as
        declared. `known` holds the sizes _verify_references read already; only the rest
        (foreign layers, the subject) is looked up.
        """
        described = [(kind, d) for kind, d in manifest.references()]
        if manifest.subject is not None:
            described.append(("subject", manifest.subject))
        blob_digests = sorted(
            {
                d.digest
                for kind, d in described
                if kind in ("config", "layer") and ("blob", d.digest) not in known
            }
        )
        manifest_digests = sorted(
            {
                d.digest
                for kind, d in described
                if kind in ("manifest", "subject") and ("manifest", d.digest) not in known
            }
        )
        stored = dict(known)
        for chunk, marks in in_batches(blob_digests):
            for digest, size in tx.rows(
                f"SELECT digest, size FROM blobs WHERE digest IN ({marks})", chunk
            ):
                stored["blob", digest] = int(size)
        for chunk, marks in in_batches(manifest_digests):
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

    def find(self, repository: str, reference: str, by_digest: bool) -> StoredManifest | None:
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

    def delete(
        self, repository: str, digest: str, actor: Actor, accessory_tags: tuple[str, ...] = ()
    ) -> bool:
        """Delete a manifest, its tags and its references from one repository; audited with
        the tags it had, in the same transaction. The manifests under `accessory_tags` (its
        `.sig`-style tags) go with it when those are all their tags; a manifest that also has
        another tag only loses the accessory tags. Then its referrers (by `subject`) go, as
        referrer_cascade.py says. Each removal is audited."""
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
            now = time.time()
            audit_manifest_delete(tx, now, actor, repository, digest, detail)
            if accessory_tags:
                delete_accessories(
                    self.db, tx, repository, repository_id, digest, accessory_tags, actor, now
                )
            delete_referrers(self.db, tx, repository, repository_id, digest, actor, now)
            return True

    def referrers(
        self, repository: str, subject_digest: str
    ) -> list[tuple[str, str, int, str | None, str | None]]:
        """(digest, media type, size, artifact type, annotations JSON) of each referrer."""
        rows = self.db.rows(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations"
            " FROM manifests m JOIN repositories r ON r.id = m.repository_id"
            " WHERE r.name = ? AND m.subject_digest = ? ORDER BY m.pushed_at, m.digest",
            (repository, subject_digest),
        )
        return [(d, media_type, int(size), at, notes) for d, media_type, size, at, notes in rows]

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
