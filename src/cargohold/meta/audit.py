"""Reading the audit log (events are appended by `Database.audit` inside each change)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cargohold.meta.database import Database

# The audit detail of deletes a client asks for through the registry API (the OCI routes), as
# lifecycle and garbage-collection deletes name their reason.
REGISTRY_API_DELETE: dict[str, Any] = {"reason": "client delete through /v2/"}


@dataclass(frozen=True)
class AuditEvent:
    """One recorded change: who (`actor`), when (`at`, UNIX seconds), what and to which target;
    `detail` is the change's own record, as written at the time."""

    id: int
    at: float
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def recent(self, limit: int) -> list[AuditEvent]:
        """The newest `limit` events, newest first."""
        rows = self.db.rows(
            "SELECT id, at, actor, action, target, detail FROM audit_events"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            AuditEvent(
                id=int(row[0]),
                at=row[1],
                actor=row[2],
                action=row[3],
                target=row[4],
                detail=json.loads(row[5]),
            )
            for row in rows
        ]
