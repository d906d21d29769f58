"""Blobs: their rows, the links that put them in repositories, collection and checks.

A blob row is `stored` only while its bytes are durable in the blob store
(docs/decisions/005-blob-durability.md): linking creates it unstored, `mark_stored`
promotes it, a garbage collection demotes it before deleting the bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cargohold.meta.audit import REGISTRY_API_DELETE
from cargohold.meta.audit_fields import Actor, AuditEntry
from cargohold.meta.database import Database, in_batches
from cargohold.meta.fastpath import Transaction
from cargohold.meta.quotas import QuotaRecords
from cargohold.meta.repositories import ensure_repository_id, find_repository_id

# A collection's mark (`swept_at`) counts for this long: a sweep whose deletion takes longer
# is treated as dead by pushes (and demotes what it keeps, see sweep). Far above the blob
# store's bounded request timeouts and retries.
SWEEP_LEASE_SECONDS = 600.0
# How long a push waits for a sweep of its digest, and how often it looks.
SWEEP_WAIT_SECONDS = 30.0
SWEEP_POLL_SECONDS = 0.05


class BlobRecords:
    def __init__(self, db: Database, quotas: QuotaRecords) -> None:
        self.db = db
        # Linking checks the project's quota in the same transaction.
        self.quotas = quotas

    def linked_size(self, repository: str, digest: str) -> int | None:
        """Size of a blob if `repository` links it; None otherwise."""
        row = self.db.one(
            "SELECT b.size FROM repository_blobs rb"
            " JOIN repositories r ON r.id = rb.repository_id"
            " JOIN blobs b ON b.digest = rb.digest"
            " WHERE r.name = ? AND rb.digest = ? AND b.stored",
            (repository, digest),
        )
        return int(row[0]) if row else None

    def repositories_linking(self, digest: str, limit: int = 50) -> list[str]:
        """Repositories that link the blob, in byte order (candidates for a mount)."""
        return self.db.column(
            "SELECT r.name FROM repository_blobs rb JOIN repositories r"
            " ON r.id = rb.repository_id WHERE rb.digest = ? ORDER BY r.name LIMIT ?",
            (digest, limit),
        )

    def link(self, repository: str, digest: str, size: int) -> bool:
        """Link a pushed blob to a repository, within the project's quota; True if stored.

        The first step of placing a blob (docs/decisions/005-blob-durability.md): the fresh
        link shields the digest from garbage collection for its grace period, and a row that
        is new (or that a collection demoted) stays `stored = FALSE`, invisible to pulls
        and manifests, until `mark_stored` says its bytes are durable. True means the
        bytes are already durable and the caller need not write them. False means the
        caller writes them: a row found without durable bytes may be one a collection is
        deleting right now, so linking first waits for that (`await_sweep`); a row made
        now has no bytes to delete, and then there is nothing to wait for.
        """
        now = time.time()
        with self.db.transaction() as tx:
            repository_id = ensure_repository_id(tx, repository, now)
            self.quotas.check(tx, repository, digest, size)
            stored = self._claim_row(tx, digest, size, now)
            tx.execute(
                # A re-push refreshes the link: the grace period of garbage collection counts
                # from the latest push of the bytes, not the first.
                "INSERT INTO repository_blobs (repository_id, digest, linked_at) VALUES (?, ?, ?)"
                " ON CONFLICT (repository_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
                (repository_id, digest, now),
            )
        if stored is False:
            # After the commit: the sweep's second transaction locks this row to clear its mark.
            self.await_sweep(digest)
        return bool(stored)

    def _claim_row(self, tx: Transaction, digest: str, size: int, now: float) -> bool | None:
        """The blob's row, inserted or found (share-locked on PostgreSQL); whether stored,
        None if inserted now.

        The insert comes first: a pushed blob is most often new, and then this is one
        statement. On PostgreSQL both the insert and the lock wait for a collection sweeping
        this blob: once it commits the row is gone and a fresh one is inserted. On SQLite
        writers are serialised.
        """
        lock = " FOR SHARE" if self.db.dialect == "postgresql" else ""
        for _ in range(5):
            inserted = tx.one(
                "INSERT INTO blobs (digest, size, created_at, stored) VALUES (?, ?, ?, FALSE)"
                " ON CONFLICT (digest) DO NOTHING RETURNING stored",
                (digest, size, now),
            )
            if inserted is not None:
                return None
            row = tx.one(f"SELECT stored FROM blobs WHERE digest = ?{lock}", (digest,))
            if row is not None:
                return bool(row[0])
        raise RuntimeError(f"blob row {digest} keeps changing under a concurrent writer")

    def mark_stored(self, digest: str, finished_upload: str | None = None) -> bool:
        """The blob's bytes are durable: pulls and manifests may now rely on it.

        False if the row is gone (a collection swept it after all) or a collection is
        deleting its bytes right now: the caller places the blob again. `finished_upload`,
        the session whose bytes these were, is dropped in the same transaction.
        """
        with self.db.transaction() as tx:
            # One statement: no row back means the row is gone, or a collection is deleting
            # the bytes (unless it died: its mark is stale).
            row = tx.one(
                "UPDATE blobs SET stored = TRUE, swept_at = NULL"
                " WHERE digest = ? AND (swept_at IS NULL OR swept_at < ?) RETURNING stored",
                (digest, time.time() - SWEEP_LEASE_SECONDS),
            )
            if finished_upload is not None:
                tx.execute("DELETE FROM uploads WHERE id = ?", (finished_upload,))
            return bool(row and row[0])

    def referenced_in(self, repository: str, digest: str) -> bool:
        """Whether a manifest of the repository references the blob."""
        return (
            self.db.one(
                "SELECT 1 FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id"
                " JOIN repositories r ON r.id = m.repository_id"
                " WHERE r.name = ? AND mr.digest = ? LIMIT 1",
                (repository, digest),
            )
            is not None
        )

    def unlink(self, repository: str, digest: str, actor: Actor) -> bool:
        """Unlink a blob from one repository, auditing it in the same transaction."""
        with self.db.transaction() as tx:
            repository_id = find_repository_id(tx, repository)
            if repository_id is None:
                return False
            if not tx.execute(
                "DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?",
                (repository_id, digest),
            ):
                return False
            self.db.audit(
                tx,
                time.time(),
                actor,
                "blob.delete",
                f"{repository}@{digest}",
                REGISTRY_API_DELETE,
                repository=repository,
                digest=digest,
            )
            return True

    def mount(self, source: str, target: str, digest: str) -> int | None:
        """Link a blob `source` links into `target`, atomically; its size, or None."""
        now = time.time()
        lock = " FOR SHARE OF b" if self.db.dialect == "postgresql" else ""
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT b.size FROM blobs b JOIN repository_blobs rb ON rb.digest = b.digest"
                " JOIN repositories r ON r.id = rb.repository_id"
                f" WHERE r.name = ? AND b.digest = ? AND b.stored{lock}",
                (source, digest),
            )
            if row is None:
                return None
            repository_id = ensure_repository_id(tx, target, now)
            self.quotas.check(tx, target, digest, int(row[0]))
            tx.execute(
                "INSERT INTO repository_blobs (repository_id, digest, linked_at) VALUES (?, ?, ?)"
                " ON CONFLICT (repository_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
                (repository_id, digest, now),
            )
            return int(row[0])

    # A blob is garbage when no manifest references it and nobody linked it since the cutoff.
    _UNREFERENCED = (
        "b.created_at < ? AND NOT EXISTS (SELECT 1 FROM manifest_references r"
        " WHERE r.digest = b.digest) AND NOT EXISTS (SELECT 1 FROM repository_blobs rb"
        " WHERE rb.digest = b.digest AND rb.linked_at >= ?)"
    )

    def garbage(self, cutoff: float, after: str, limit: int) -> list[tuple[str, int]]:
        """Unreferenced blobs older than `cutoff`, in digest order after `after`."""
        return [
            (row[0], int(row[1]))
            for row in self.db.rows(
                f"SELECT b.digest, b.size FROM blobs b WHERE {self._UNREFERENCED}"
                " AND b.digest > ? ORDER BY b.digest LIMIT ?",
                (cutoff, cutoff, after, limit),
            )
        ]

    def in_grace(self, cutoff: float) -> list[tuple[int, float]]:
        """(size, last push) of unreferenced blobs a collection keeps for their grace period.

        The last push is the later of the blob's first upload and its latest link.
        """
        rows = self.db.rows(
            "SELECT b.size, b.created_at,"
            " (SELECT MAX(rb.linked_at) FROM repository_blobs rb WHERE rb.digest = b.digest)"
            " FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM manifest_references r"
            " WHERE r.digest = b.digest) AND (b.created_at >= ? OR EXISTS (SELECT 1"
            " FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.linked_at >= ?))",
            (cutoff, cutoff),
        )
        return [(int(size), max(created, linked or 0.0)) for size, created, linked in rows]

    def collectable_references(
        self, digests: list[str], cutoff: float
    ) -> list[tuple[str, int, int]]:
        """(digest, size, references) of those blobs past their grace, however referenced.

        With the references a set of manifests holds, a dry run tells which blobs deleting
        those manifests would make garbage.
        """
        found: list[tuple[str, int, int]] = []
        for batch, marks in in_batches(digests):
            found.extend(
                (row[0], int(row[1]), int(row[2]))
                for row in self.db.rows(
                    "SELECT b.digest, b.size, (SELECT COUNT(*) FROM manifest_references r"
                    " WHERE r.digest = b.digest) FROM blobs b"
                    f" WHERE b.digest IN ({marks}) AND b.created_at < ? AND NOT EXISTS"
                    " (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest"
                    " AND rb.linked_at >= ?)",
                    (*batch, cutoff, cutoff),
                )
            )
        return found

    def sweep(
        self,
        digests: list[str],
        cutoff: float,
        delete_bytes: Callable[[list[str]], list[str]],
        *,
        actor: Actor,
        reason: str,
    ) -> list[tuple[str, int]]:
        """Delete those blobs that are still garbage, rows and bytes; what was deleted, each
        a `blob.delete` audited under `actor` (detail: `reason`, the size) in the transaction
        that deletes its row.

        No lock is held while the bytes are deleted: the blob store may be an object store, a
        network away (docs/decisions/005-blob-durability.md). The first transaction demotes
        the rows (`stored = FALSE`: no row claims the bytes from then on) and marks them
        `swept_at`; then the bytes go (`delete_bytes` returns the digests it could not
        delete); the second transaction re-checks and deletes the rows still garbage whose
        bytes went, and clears the mark of the others. A push of one of these blobs meanwhile
        refreshes its link (so the row is kept), waits for the mark to clear before writing
        (`await_sweep`), and cannot mark the row stored while the mark is set. A crash between
        the two leaves marked, demoted rows that the next run collects.
        """
        if not digests:
            return []
        marked_at = time.time()
        doomed = self._mark(digests, cutoff, marked_at)
        if not doomed:
            return []
        failed = set(delete_bytes([digest for digest, _ in doomed]))
        slow = time.time() - marked_at >= SWEEP_LEASE_SECONDS
        return self._finish_sweep(doomed, failed, cutoff, slow, actor, reason)

    def _locked_garbage(
        self, tx: Transaction, digests: list[str], cutoff: float, extra: str
    ) -> list[tuple[str, int]]:
        """The blobs among `digests` still garbage (and matching `extra`), rows locked."""
        marks = ", ".join("?" * len(digests))
        if self.db.dialect == "postgresql":
            tx.column(
                f"SELECT digest FROM blobs WHERE digest IN ({marks}) ORDER BY digest FOR UPDATE",
                digests,
            )
        return [
            (row[0], int(row[1]))
            for row in tx.rows(
                f"SELECT b.digest, b.size FROM blobs b WHERE b.digest IN ({marks})"
                f" AND {self._UNREFERENCED}{extra}",
                (*digests, cutoff, cutoff),
            )
        ]

    def _mark(self, digests: list[str], cutoff: float, now: float) -> list[tuple[str, int]]:
        """Demote and mark the blobs among `digests` still garbage; those blobs."""
        with self.db.transaction() as tx:
            doomed = self._locked_garbage(tx, digests, cutoff, "")
            if doomed:
                names = [digest for digest, _ in doomed]
                tx.execute(
                    "UPDATE blobs SET stored = FALSE, swept_at = ?"
                    f" WHERE digest IN ({', '.join('?' * len(names))})",
                    (now, *names),
                )
        return doomed

    def _finish_sweep(
        self,
        doomed: list[tuple[str, int]],
        failed: set[str],
        cutoff: float,
        slow: bool,
        actor: Actor,
        reason: str,
    ) -> list[tuple[str, int]]:
        names = [digest for digest, _ in doomed]
        with self.db.transaction() as tx:
            gone = [
                (digest, size)
                for digest, size in self._locked_garbage(tx, names, cutoff, " AND NOT b.stored")
                if digest not in failed
            ]
            kept = sorted(set(names) - {digest for digest, _ in gone})
            if kept:
                # Pushed meanwhile, or bytes that could not be deleted (the next run tries
                # again). A sweep slower than the lease may have deleted bytes a push wrote
                # after it stopped waiting: those rows are demoted, so the next push writes
                # them again rather than trusting them.
                demote = ", stored = FALSE" if slow else ""
                tx.execute(
                    f"UPDATE blobs SET swept_at = NULL{demote}"
                    f" WHERE digest IN ({', '.join('?' * len(kept))})",
                    kept,
                )
            if gone:
                gone_names = [digest for digest, _ in gone]
                marks = ", ".join("?" * len(gone_names))
                tx.execute(f"DELETE FROM repository_blobs WHERE digest IN ({marks})", gone_names)
                tx.execute(f"DELETE FROM blobs WHERE digest IN ({marks})", gone_names)
                _audit_each(
                    tx,
                    actor,
                    "blob.delete",
                    {digest: {"reason": reason, "size": size} for digest, size in gone},
                )
        return gone

    def await_sweep(self, digest: str, timeout: float = SWEEP_WAIT_SECONDS) -> None:
        """Before writing a blob's bytes: wait (a bounded while) until no collection is
        deleting them. A mark older than the lease is a collection that died."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.db.one("SELECT swept_at FROM blobs WHERE digest = ?", (digest,))
            swept_at = row[0] if row else None
            if swept_at is None or swept_at < time.time() - SWEEP_LEASE_SECONDS:
                return
            if time.monotonic() >= deadline:
                return  # mark_stored still refuses while the mark holds
            time.sleep(SWEEP_POLL_SECONDS)

    # -- consistency checks (services/fsck.py) --------------------------------------------

    def stored(self, after: str, limit: int) -> list[tuple[str, int]]:
        """(digest, size) of blobs whose bytes the metadata calls durable, in digest order."""
        return [
            (row[0], int(row[1]))
            for row in self.db.rows(
                "SELECT digest, size FROM blobs WHERE stored AND digest > ?"
                " ORDER BY digest LIMIT ?",
                (after, limit),
            )
        ]

    def known(self, digests: list[str]) -> set[str]:
        """Those of `digests` that have a row, stored or not."""
        if not digests:
            return set()
        marks = ", ".join("?" * len(digests))
        return set(self.db.column(f"SELECT digest FROM blobs WHERE digest IN ({marks})", digests))

    def demote(self, problems: dict[str, str], actor: Actor) -> int:
        """Stop calling these blobs stored (their bytes are gone or damaged: `problems` says
        which, by digest); how many were demoted, each a `blob.demote` audited under `actor`
        in the same transaction."""
        digests = list(problems)
        marks = ", ".join("?" * len(digests))
        with self.db.transaction() as tx:
            demoted = tx.column(
                f"UPDATE blobs SET stored = FALSE WHERE stored AND digest IN ({marks})"
                " RETURNING digest",
                digests,
            )
            _audit_each(
                tx,
                actor,
                "blob.demote",
                {d: {"reason": f"fsck --repair: bytes {problems[d]}"} for d in demoted},
            )
        return len(demoted)

    def adopt_orphans(self, blobs_found: list[tuple[str, int]]) -> None:
        """Record objects no row describes as old, unlinked, unstored blobs: garbage to sweep."""
        with self.db.transaction() as tx:
            tx.executemany(
                "INSERT INTO blobs (digest, size, created_at, stored) VALUES (?, ?, 0, FALSE)"
                " ON CONFLICT (digest) DO NOTHING",
                list(blobs_found),
            )


def _audit_each(
    tx: Transaction, actor: Actor, action: str, details: dict[str, dict[str, object]]
) -> None:
    """One `action` entry per blob (`details`: digest -> its detail), in the transaction that
    made the change."""
    now = time.time()
    entries = [
        AuditEntry(actor, action, target=digest, digest=digest, detail=detail, at=now)
        for digest, detail in details.items()
    ]
    Database.audit_entries(tx, entries)
