"""Tags: the paged list (cached per process under the repository's tags version), lookups
and deletes. A push writes its tag inside the manifest's transaction (manifests.py).

Every statement is raw on the Database's fast path: the tags list and the tag lookups serve
pulls (docs/decisions/003-raw-sql-on-the-hot-path.md, 019-one-sql-style.md).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from cargohold.meta.audit import REGISTRY_API_DELETE
from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.fastpath import NO_LIMIT
from cargohold.meta.repositories import BUMP_TAGS_VERSION
from cargohold.meta.signatures import drop_verdicts
from cargohold.oci.accessories import accessory_subject

TAG_PAGE_CACHE_SIZE = 256


class TagMoved(Exception):
    """An immutable tag already points to another manifest (`current_digest`)."""

    def __init__(self, current_digest: str) -> None:
        self.current_digest = current_digest
        super().__init__(current_digest)


class TagRecords:
    def __init__(self, db: Database) -> None:
        self.db = db
        # (repository, last, limit) -> (tags version, names), least recently used first.
        self._pages: OrderedDict[tuple[str, str | None, int | None], tuple[int, tuple[str, ...]]]
        self._pages = OrderedDict()

    def names(self, repository: str, limit: int | None, last: str | None) -> list[str] | None:
        """Tag names in byte order after `last`; None when the repository does not exist.

        Pages are cached per process under the repository's tags version, which every tag
        change bumps in its own transaction; a stale page is never served.
        """
        row = self.db.one("SELECT id, tags_version FROM repositories WHERE name = ?", (repository,))
        if row is None:
            return None
        repository_id, version = row
        key = (repository, last, limit)
        cached = self._pages.get(key)
        if cached is not None and cached[0] == version:
            self._pages.move_to_end(key)
            return list(cached[1])
        names = self.db.column(
            "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
            (repository_id, last or "", NO_LIMIT if limit is None else limit),
        )
        self._pages[key] = (version, tuple(names))
        while len(self._pages) > TAG_PAGE_CACHE_SIZE:
            self._pages.popitem(last=False)
        return names

    def digest(self, repository: str, tag: str) -> str | None:
        """The digest of the manifest `tag` points to, or None."""
        row = self.db.one(
            "SELECT m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id"
            " JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND t.name = ?",
            (repository, tag),
        )
        return row[0] if row else None

    def of_manifest(self, repository: str, digest: str) -> list[str]:
        """The tags pointing to a manifest, in byte order."""
        return self.db.column(
            "SELECT t.name FROM tags t JOIN manifests m ON m.id = t.manifest_id"
            " JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?"
            " ORDER BY t.name",
            (repository, digest),
        )

    def delete(self, repository: str, tag: str, actor: Actor) -> bool:
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
            # A `.sig` tag gone: the image it named may no longer be signed.
            drop_verdicts(tx, repository, [accessory_subject(tag)])
            detail = {**REGISTRY_API_DELETE, "digest": digest}
            self.db.audit(
                tx,
                time.time(),
                actor,
                "tag.delete",
                f"{repository}:{tag}",
                detail,
                repository=repository,
                reference=tag,
                digest=digest,
            )
            return True
