"""What an audit entry holds (the audit_events table; meta/audit.py reads it).

Kept apart from audit.py so that `Database.audit` can take these without importing the
reader, which imports the Database.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from cargohold.oci.names import project_of

# An entry's result.
OK = "ok"
DENIED = "denied"
FAILED = "failed"
RESULTS = (OK, DENIED, FAILED)

# The longest value each text column keeps (models.audit_events); longer values are cut,
# never refused: an audit entry must not fail the change it records.
_LIMITS = {
    "actor": 255,
    "method": 32,
    "address": 64,
    "user_agent": 256,
    "action": 64,
    "project": 255,
    "repository": 255,
    "reference": 255,
    "digest": 150,
    "result": 16,
    "target": 512,
}


@dataclass(frozen=True)
class Actor:
    """Who did it, as the audit log records them: the user or robot name ("anonymous",
    "schedule", "system"...), how they authenticated, and the request's source address and
    user agent (empty for work no request made)."""

    name: str
    method: str = ""
    address: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class AuditEntry:
    """One entry to append. `project` is the repository's first component when only the
    repository is given; `target` names what the entry is about in one string (a tag
    `repository:tag`, an image `repository@digest`, a user, robot or rule)."""

    actor: Actor
    action: str
    target: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    project: str = ""
    repository: str = ""
    reference: str = ""
    digest: str = ""
    result: str = OK
    at: float = field(default_factory=time.time)

    def row(self) -> tuple[Any, ...]:
        """The values of INSERT_AUDIT_EVENT, cut to the columns' lengths."""
        project = self.project or (project_of(self.repository) if self.repository else "")
        actor = self.actor
        return (
            self.at,
            _cut(actor.name, "actor"),
            _cut(actor.method, "method"),
            _cut(actor.address, "address"),
            _cut(actor.user_agent, "user_agent"),
            _cut(self.action, "action"),
            _cut(project, "project"),
            _cut(self.repository, "repository"),
            _cut(self.reference, "reference"),
            _cut(self.digest, "digest"),
            _cut(self.result, "result"),
            _cut(self.target, "target"),
            _json(self.detail),
        )


INSERT_AUDIT_EVENT = (
    "INSERT INTO audit_events (at, actor, method, address, user_agent, action, project,"
    " repository, reference, digest, result, target, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _cut(value: str, column: str) -> str:
    limit = _LIMITS[column]
    return value if len(value) <= limit else value[:limit]


def _json(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, default=str)
