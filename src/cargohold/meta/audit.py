"""The audit log: appending entries that no change carries (batched pulls, logins, denials),
reading pages of it newest first, and purging what is past retention.

Most entries are appended by `Database.audit` inside the transaction of the change they
describe; every statement here is raw (docs/decisions/019-one-sql-style.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cargohold.meta.audit_fields import Actor, AuditEntry
from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction

# The audit detail of deletes a client asks for through the registry API (the OCI routes), as
# lifecycle and garbage-collection deletes name their reason.
REGISTRY_API_DELETE: dict[str, Any] = {"reason": "client delete through /v2/"}


def audit_manifest_delete(
    tx: Transaction,
    at: float,
    actor: Actor,
    repository: str,
    digest: str,
    detail: dict[str, Any],
) -> None:
    """The `manifest.delete` entry of a manifest deleted by digest, in the delete's transaction."""
    Database.audit(
        tx,
        at,
        actor,
        "manifest.delete",
        f"{repository}@{digest}",
        detail,
        repository=repository,
        reference=digest,
        digest=digest,
    )


_HALF_MICROSECOND = 0.5e-6
_COLUMNS = (
    "id, at, actor, method, address, user_agent, action, project, repository, reference,"
    " digest, result, target, detail"
)


@dataclass(frozen=True)
class AuditEvent:
    """One recorded entry: who (`actor`, how they authenticated, from which address and
    client), when (`at`, UNIX seconds), what (`action`), on what (project, repository,
    reference, digest; `target` in one string) and how it went (`result`); `detail` is the
    entry's own record, as written at the time. Empty strings where a field does not apply
    or an entry older than the field lacks it."""

    id: int
    at: float
    actor: str
    method: str
    address: str
    user_agent: str
    action: str
    project: str
    repository: str
    reference: str
    digest: str
    result: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to read; None matches every value. `since` is inclusive, `until`
    exclusive (UNIX seconds)."""

    actor: str | None = None
    action: str | None = None
    project: str | None = None
    repository: str | None = None
    result: str | None = None
    since: float | None = None
    until: float | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The conditions (joined with AND, after WHERE) and their parameters."""
        conditions: list[str] = []
        params: list[Any] = []
        for column in ("actor", "action", "project", "repository", "result"):
            value = getattr(self, column)
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        # Stored times have more digits than the microseconds the API shows (it rounds):
        # compare as shown, so `since` set to an entry's own `at` includes it, `until` not.
        if self.since is not None:
            conditions.append("at >= ?")
            params.append(self.since - _HALF_MICROSECOND)
        if self.until is not None:
            conditions.append("at < ?")
            params.append(self.until - _HALF_MICROSECOND)
        return " AND ".join(conditions), params


def _event(row: tuple[Any, ...]) -> AuditEvent:
    """A row of _COLUMNS: the text columns in the dataclass's order, then the detail."""
    return AuditEvent(int(row[0]), float(row[1]), *row[2:13], detail=json.loads(row[13]))


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, entries: list[AuditEntry]) -> None:
        """Append entries in one transaction of their own."""
        if not entries:
            return
        with self.db.transaction() as tx:
            self.db.audit_entries(tx, entries)

    def page(self, where: AuditFilter, before_id: int | None, limit: int) -> list[AuditEvent]:
        """At most `limit` matching entries with ids below `before_id` (all when None),
        newest (highest id) first. Each filter column has an index on (column, id)."""
        conditions, params = where.where()
        if before_id is not None:
            conditions = f"{conditions} AND id < ?" if conditions else "id < ?"
            params.append(before_id)
        sql = f"SELECT {_COLUMNS} FROM audit_events"
        if conditions:
            sql += f" WHERE {conditions}"
        rows = self.db.rows(f"{sql} ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_event(row) for row in rows]

    def purge_batch(
        self, before: float, limit: int, actor: Actor, detail: dict[str, Any], at: float
    ) -> int:
        """Remove up to `limit` of the oldest entries written before `before`, and record
        the purge (with `removed` added to `detail`) in the same transaction, so no entry
        leaves the log without another saying so. Returns how many were removed."""
        with self.db.transaction() as tx:
            ids = tx.column(
                "SELECT id FROM audit_events WHERE at < ? ORDER BY id LIMIT ?", (before, limit)
            )
            removed = 0
            if ids:
                removed = tx.execute(
                    "DELETE FROM audit_events WHERE at < ? AND id <= ?", (before, max(ids))
                )
            self.db.audit(tx, at, actor, "audit.purge", "audit log", {**detail, "removed": removed})
        return removed
