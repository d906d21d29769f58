"""Project quotas: the stored limits and the usage they are checked against."""

from __future__ import annotations

import time
from collections.abc import Iterable

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction
from cargohold.meta.repositories import IN_PROJECT, project_params

# What a project's quota counts: the distinct blobs its manifests reference, plus those
# linked within the grace period (pushes whose manifest has not arrived yet). A link
# nothing references any more (a refused push, deleted images) stops counting once it is
# older than the grace period, like the blob stops being kept by garbage collection.
# Parameters: the project twice (see project_params), then the link cutoff.
_COUNTED = (
    "SELECT mr.digest FROM manifest_references mr"
    " JOIN manifests m ON m.id = mr.manifest_id JOIN repositories r ON r.id = m.repository_id"
    f" WHERE mr.kind <> 'manifest' AND {IN_PROJECT}"
    " UNION SELECT rb.digest FROM repository_blobs rb"
    f" JOIN repositories r ON r.id = rb.repository_id WHERE {IN_PROJECT}"
    " AND rb.linked_at >= ?"
)
_USAGE = f"SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN ({_COUNTED})"


class QuotaExceeded(Exception):
    """Linking a blob would take a project past its quota."""

    def __init__(self, project: str, usage: int, adding: int, limit: int) -> None:
        self.project, self.usage, self.adding, self.limit = project, usage, adding, limit
        super().__init__(project)


class QuotaRecords:
    def __init__(self, db: Database, link_grace_seconds: float) -> None:
        self.db = db
        # Links younger than this count towards usage (see MetadataStore.link_grace_seconds).
        self.link_grace_seconds = link_grace_seconds

    def _usage_params(self, project: str) -> tuple[str, str, str, str, float]:
        in_project = project_params(project)
        return (*in_project, *in_project, time.time() - self.link_grace_seconds)

    def get(self, project: str, usage_without_quota: bool = False) -> tuple[int | None, int]:
        """(limit or None, usage) of a project; usage is 0 when there is no quota, unless asked."""
        row = self.db.one("SELECT limit_bytes FROM project_quotas WHERE project = ?", (project,))
        limit = int(row[0]) if row else None
        if limit is None and not usage_without_quota:
            return None, 0
        usage = self.db.one(_USAGE, self._usage_params(project))
        return limit, int(usage[0]) if usage else 0

    def uncounted_bytes(self, project: str, digests: Iterable[str]) -> int:
        """Bytes of those blobs that the project's usage does not count yet.

        A manifest makes the blobs it references count again, even those whose links
        are older than the grace period: its push is checked against the quota with them.
        """
        wanted = sorted(set(digests))
        if not wanted:
            return 0
        marks = ", ".join("?" * len(wanted))
        row = self.db.one(
            f"SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN ({marks})"
            f" AND b.digest NOT IN ({_COUNTED})",
            (*wanted, *self._usage_params(project)),
        )
        return int(row[0]) if row else 0

    def set(self, project: str, limit: int | None, actor: Actor) -> None:
        """Store (or with None, remove) a project's limit."""
        now = time.time()
        with self.db.transaction() as tx:
            if limit is None:
                tx.execute("DELETE FROM project_quotas WHERE project = ?", (project,))
                self.db.audit(tx, now, actor, "quota.remove", project, {}, project=project)
                return
            tx.execute(
                "INSERT INTO project_quotas (project, limit_bytes, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (project) DO UPDATE"
                " SET limit_bytes = excluded.limit_bytes, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                (project, limit, now, actor.name),
            )
            self.db.audit(
                tx, now, actor, "quota.set", project, {"limit_bytes": limit}, project=project
            )

    def check(self, tx: Transaction, repository: str, digest: str, size: int) -> None:
        """Raise QuotaExceeded if linking the blob would take the project past its quota.

        Inside the linking transaction; on PostgreSQL the quota row stays locked until it
        commits, so concurrent links into one project are checked one after another.
        """
        project = repository.split("/", 1)[0]
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        quota = tx.one(
            f"SELECT limit_bytes FROM project_quotas WHERE project = ?{lock}", (project,)
        )
        if quota is None:
            return
        already = tx.one(
            f"SELECT 1 FROM ({_COUNTED}) counted WHERE counted.digest = ?",
            (*self._usage_params(project), digest),
        )
        if already is not None:
            return
        row = tx.one(_USAGE, self._usage_params(project))
        usage = int(row[0]) if row else 0
        if usage + size > int(quota[0]):
            raise QuotaExceeded(project, usage, size, int(quota[0]))
