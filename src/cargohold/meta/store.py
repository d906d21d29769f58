"""The metadata store facade: the only way the rest of cargohold reaches the database.

Every method is one short transaction. Writers use `_write()` so SQLite takes
its write lock up front; readers use `_read()`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from cargohold.meta.db import WRITE_OPTION, writer_lock_for
from cargohold.meta.hotreads import NO_LIMIT, HotReads
from cargohold.meta.models import (
    blobs,
    manifest_references,
    manifests,
    repositories,
    repository_blobs,
    tags,
    uploads,
)
from cargohold.oci.manifests import Manifest


@dataclass(frozen=True)
class StoredManifest:
    id: int
    digest: str
    media_type: str
    content: bytes
    subject_digest: str | None


@dataclass(frozen=True)
class Upload:
    id: str
    repository: str
    offset: int
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class MissingReference:
    kind: str
    digest: str
    media_type: str


class MetadataStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._hot = HotReads(engine)
        self._writer_lock = writer_lock_for(engine)

    # -- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        lock = self._writer_lock.held() if self._writer_lock else nullcontext()
        with lock, self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def _insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _repository_id(self, conn: sa.Connection, name: str) -> int | None:
        return conn.execute(
            sa.select(repositories.c.id).where(repositories.c.name == name)
        ).scalar_one_or_none()

    def _ensure_repository(self, conn: sa.Connection, name: str) -> int:
        existing = self._repository_id(conn, name)
        if existing is not None:
            return existing
        conn.execute(
            self._insert(repositories)
            .values(name=name, created_at=time.time())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        repository_id = self._repository_id(conn, name)
        assert repository_id is not None
        return repository_id

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- repositories -------------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        with self._read() as conn:
            return self._repository_id(conn, name) is not None

    def catalog(self, limit: int, last: str | None) -> list[str]:
        query = sa.select(repositories.c.name).order_by(repositories.c.name).limit(limit)
        if last is not None:
            query = query.where(repositories.c.name > last)
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    # -- blobs --------------------------------------------------------------------------

    def linked_blob_size(self, repository: str, digest: str) -> int | None:
        """Size of a blob if `repository` links it; None otherwise."""
        row = self._hot.one(self._hot.linked_blob_size, (repository, digest))
        return int(row[0]) if row else None

    def repositories_linking(self, digest: str, limit: int = 50) -> list[str]:
        query = (
            sa.select(repositories.c.name)
            .select_from(
                repository_blobs.join(
                    repositories, repositories.c.id == repository_blobs.c.repository_id
                )
            )
            .where(repository_blobs.c.digest == digest)
            .order_by(repositories.c.name)
            .limit(limit)
        )
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def link_blob(self, repository: str, digest: str, size: int) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                self._insert(blobs)
                .values(digest=digest, size=size, created_at=now)
                .on_conflict_do_nothing(index_elements=["digest"])
            )
            repository_id = self._ensure_repository(conn, repository)
            conn.execute(
                self._insert(repository_blobs)
                .values(repository_id=repository_id, digest=digest, linked_at=now)
                .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
            )

    def blob_referenced_in_repository(self, repository: str, digest: str) -> bool:
        query = (
            sa.select(sa.literal(1))
            .select_from(
                manifest_references.join(
                    manifests, manifests.c.id == manifest_references.c.manifest_id
                ).join(repositories, repositories.c.id == manifests.c.repository_id)
            )
            .where(repositories.c.name == repository, manifest_references.c.digest == digest)
            .limit(1)
        )
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def unlink_blob(self, repository: str, digest: str) -> bool:
        with self._write() as conn:
            repository_id = self._repository_id(conn, repository)
            if repository_id is None:
                return False
            result = conn.execute(
                sa.delete(repository_blobs).where(
                    repository_blobs.c.repository_id == repository_id,
                    repository_blobs.c.digest == digest,
                )
            )
            return result.rowcount > 0

    # -- upload sessions ----------------------------------------------------------------

    def create_upload(self, upload_id: str, repository: str) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                sa.insert(uploads).values(
                    id=upload_id, repository=repository, offset=0, created_at=now, updated_at=now
                )
            )

    def get_upload(self, upload_id: str) -> Upload | None:
        with self._read() as conn:
            row = conn.execute(sa.select(uploads).where(uploads.c.id == upload_id)).first()
        return Upload(*row) if row else None

    def advance_upload(self, upload_id: str, old_offset: int, new_offset: int) -> bool:
        """Move the offset forward only if nobody else moved it first."""
        with self._write() as conn:
            result = conn.execute(
                sa.update(uploads)
                .where(uploads.c.id == upload_id, uploads.c.offset == old_offset)
                .values(offset=new_offset, updated_at=time.time())
            )
            return result.rowcount == 1

    def delete_upload(self, upload_id: str) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(uploads).where(uploads.c.id == upload_id))

    def expired_uploads(self, idle_before: float, limit: int = 500) -> list[str]:
        query = sa.select(uploads.c.id).where(uploads.c.updated_at < idle_before).limit(limit)
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    # -- manifests ----------------------------------------------------------------------

    def missing_references(self, repository: str, manifest: Manifest) -> list[MissingReference]:
        """Descriptors of `manifest` that `repository` does not hold, in manifest order."""
        blob_refs = [
            d for kind, d in manifest.references() if kind != "manifest" and not d.is_foreign
        ]
        child_refs = manifest.children
        with self._read() as conn:
            repository_id = self._repository_id(conn, repository)
            present: set[str] = set()
            if repository_id is not None and blob_refs:
                present |= set(
                    conn.execute(
                        sa.select(repository_blobs.c.digest).where(
                            repository_blobs.c.repository_id == repository_id,
                            repository_blobs.c.digest.in_({d.digest for d in blob_refs}),
                        )
                    ).scalars()
                )
            if repository_id is not None and child_refs:
                present |= set(
                    conn.execute(
                        sa.select(manifests.c.digest).where(
                            manifests.c.repository_id == repository_id,
                            manifests.c.digest.in_({d.digest for d in child_refs}),
                        )
                    ).scalars()
                )
        return [
            MissingReference(kind, d.digest, d.media_type)
            for kind, d in manifest.references()
            if not (kind != "manifest" and d.is_foreign) and d.digest not in present
        ]

    def put_manifest(
        self,
        repository: str,
        digest: str,
        content: bytes,
        manifest: Manifest,
        tag: str | None,
    ) -> None:
        now = time.time()
        with self._write() as conn:
            repository_id = self._ensure_repository(conn, repository)
            inserted = conn.execute(
                self._insert(manifests)
                .values(
                    repository_id=repository_id,
                    digest=digest,
                    media_type=manifest.media_type,
                    artifact_type=manifest.referrer_artifact_type,
                    size=len(content),
                    content=content,
                    subject_digest=manifest.subject.digest if manifest.subject else None,
                    annotations=json.dumps(manifest.annotations) if manifest.annotations else None,
                    pushed_at=now,
                )
                .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
                .returning(manifests.c.id)
            ).scalar_one_or_none()
            manifest_id = inserted
            if manifest_id is None:
                manifest_id = conn.execute(
                    sa.select(manifests.c.id).where(
                        manifests.c.repository_id == repository_id, manifests.c.digest == digest
                    )
                ).scalar_one()
            if inserted is not None:
                references = [
                    {
                        "manifest_id": manifest_id,
                        "position": i,
                        "kind": kind,
                        "digest": d.digest,
                        "size": d.size,
                    }
                    for i, (kind, d) in enumerate(manifest.references())
                ]
                if references:
                    conn.execute(sa.insert(manifest_references), references)
            if tag is not None:
                statement = self._insert(tags).values(
                    repository_id=repository_id, name=tag, manifest_id=manifest_id, updated_at=now
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["repository_id", "name"],
                        set_={"manifest_id": manifest_id, "updated_at": now},
                    )
                )

    def get_manifest(
        self, repository: str, reference: str, by_digest: bool
    ) -> StoredManifest | None:
        sql = self._hot.manifest_by_digest if by_digest else self._hot.manifest_by_tag
        row = self._hot.one(sql, (repository, reference))
        if row is None:
            return None
        manifest_id, digest, media_type, content, subject_digest = row
        return StoredManifest(manifest_id, digest, media_type, bytes(content), subject_digest)

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest, its tags and its references from one repository."""
        with self._write() as conn:
            repository_id = self._repository_id(conn, repository)
            if repository_id is None:
                return False
            manifest_id = conn.execute(
                sa.select(manifests.c.id).where(
                    manifests.c.repository_id == repository_id, manifests.c.digest == digest
                )
            ).scalar_one_or_none()
            if manifest_id is None:
                return False
            conn.execute(sa.delete(tags).where(tags.c.manifest_id == manifest_id))
            conn.execute(
                sa.delete(manifest_references).where(
                    manifest_references.c.manifest_id == manifest_id
                )
            )
            conn.execute(sa.delete(manifests).where(manifests.c.id == manifest_id))
            return True

    def delete_tag(self, repository: str, tag: str) -> bool:
        with self._write() as conn:
            repository_id = self._repository_id(conn, repository)
            if repository_id is None:
                return False
            result = conn.execute(
                sa.delete(tags).where(tags.c.repository_id == repository_id, tags.c.name == tag)
            )
            return result.rowcount > 0

    def list_tags(self, repository: str, limit: int | None, last: str | None) -> list[str] | None:
        """Tag names in byte order after `last`; None when the repository does not exist."""
        names = self._hot.column(
            self._hot.tag_names,
            (repository, last or "", NO_LIMIT if limit is None else limit),
        )
        if not names and not self.repository_exists(repository):
            return None
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
        with self._read() as conn:
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]

    def record_pulls(self, pulls: dict[int, float]) -> None:
        """Store last-pull times; never move a time backwards."""
        if not pulls:
            return
        with self._write() as conn:
            for manifest_id, pulled_at in sorted(pulls.items()):
                conn.execute(
                    sa.update(manifests)
                    .where(
                        manifests.c.id == manifest_id,
                        sa.or_(
                            manifests.c.last_pulled_at.is_(None),
                            manifests.c.last_pulled_at < pulled_at,
                        ),
                    )
                    .values(last_pulled_at=pulled_at)
                )

    # -- admin views --------------------------------------------------------------------

    def system_counts(self) -> dict[str, int]:
        with self._read() as conn:
            return {
                "repositories": conn.execute(
                    sa.select(sa.func.count()).select_from(repositories)
                ).scalar_one(),
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
        """Name, counts and size of each repository.

        Size is the bytes of the distinct blobs the repository links plus its manifests.
        """
        blob_bytes = (
            sa.select(sa.func.coalesce(sa.func.sum(blobs.c.size), 0))
            .select_from(repository_blobs.join(blobs, blobs.c.digest == repository_blobs.c.digest))
            .where(repository_blobs.c.repository_id == repositories.c.id)
            .scalar_subquery()
        )
        manifest_bytes = (
            sa.select(sa.func.coalesce(sa.func.sum(manifests.c.size), 0))
            .where(manifests.c.repository_id == repositories.c.id)
            .scalar_subquery()
        )
        manifest_count = (
            sa.select(sa.func.count())
            .where(manifests.c.repository_id == repositories.c.id)
            .scalar_subquery()
        )
        tag_count = (
            sa.select(sa.func.count())
            .where(tags.c.repository_id == repositories.c.id)
            .scalar_subquery()
        )
        last_push = (
            sa.select(sa.func.max(manifests.c.pushed_at))
            .where(manifests.c.repository_id == repositories.c.id)
            .scalar_subquery()
        )
        query = sa.select(
            repositories.c.name,
            manifest_count.label("manifests"),
            tag_count.label("tags"),
            (blob_bytes + manifest_bytes).label("size_bytes"),
            last_push.label("last_pushed_at"),
        ).order_by(repositories.c.name)
        if last is not None:
            query = query.where(repositories.c.name > last)
        with self._read() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query.limit(limit))]
        for row in rows:
            # PostgreSQL sums BIGINTs as NUMERIC.
            row["size_bytes"] = int(row["size_bytes"])  # type: ignore[call-overload]
        return rows

    def tag_details(self, repository: str) -> list[dict[str, object]] | None:
        """Each tag with its manifest's digest, media type, size, push and last pull time.

        Size is the manifest plus what it references; an index adds its children's.
        """
        with self._read() as conn:
            repository_id = self._repository_id(conn, repository)
            if repository_id is None:
                return None
            rows = conn.execute(
                sa.select(
                    tags.c.name,
                    manifests.c.id,
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
            sizes = self._image_sizes(conn, repository_id, {row.id for row in rows})
        return [
            {
                "tag": row.name,
                "digest": row.digest,
                "media_type": row.media_type,
                "size_bytes": sizes.get(row.id, row.size),
                "pushed_at": row.pushed_at,
                "tagged_at": row.updated_at,
                "last_pulled_at": row.last_pulled_at,
            }
            for row in rows
        ]

    def _image_sizes(
        self, conn: sa.Connection, repository_id: int, manifest_ids: Iterable[int]
    ) -> dict[int, int]:
        """Manifest bytes plus distinct referenced blob bytes, following index children."""
        refs = conn.execute(
            sa.select(
                manifests.c.id,
                manifests.c.digest,
                manifests.c.size,
                manifest_references.c.kind,
                manifest_references.c.digest,
                manifest_references.c.size,
            )
            .select_from(
                manifests.outerjoin(
                    manifest_references, manifest_references.c.manifest_id == manifests.c.id
                )
            )
            .where(manifests.c.repository_id == repository_id)
        ).all()
        by_digest: dict[str, int] = {}
        own_size: dict[int, int] = {}
        children: dict[int, list[tuple[str, str, int]]] = {}
        for manifest_id, digest, size, kind, ref_digest, ref_size in refs:
            by_digest[digest] = manifest_id
            own_size[manifest_id] = size
            if kind is not None:
                children.setdefault(manifest_id, []).append((kind, ref_digest, ref_size))

        def collect(manifest_id: int, seen_blobs: dict[str, int], seen: set[int]) -> int:
            if manifest_id in seen:
                return 0
            seen.add(manifest_id)
            total = own_size[manifest_id]
            for kind, digest, size in children.get(manifest_id, []):
                if kind == "manifest":
                    if digest in by_digest:
                        total += collect(by_digest[digest], seen_blobs, seen)
                elif digest not in seen_blobs:
                    seen_blobs[digest] = size
                    total += size
            return total

        return {mid: collect(mid, {}, set()) for mid in manifest_ids if mid in own_size}
