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
        """The values of INSERT_AUDIT_EVENT."""
        return audit_row(
            self.at,
            self.actor,
            self.action,
            self.target,
            self.detail,
            self.project,
            self.repository,
            self.reference,
            self.digest,
            self.result,
        )


INSERT_AUDIT_EVENT = (
    "INSERT INTO audit_events (at, actor, method, address, user_agent, action, project,"
    " repository, reference, digest, result, target, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def audit_row(
    at: float,
    actor: Actor,
    action: str,
    target: str,
    detail: dict[str, Any],
    project: str,
    repository: str,
    reference: str,
    digest: str,
    result: str,
) -> tuple[Any, ...]:
    """The values of INSERT_AUDIT_EVENT, each cut to its column's length (models.py): a value
    too long is cut, never refused, as an entry must not fail the change it records. Built
    directly, without an AuditEntry: it is on every push's path."""
    if not project and repository:
        project = project_of(repository)
    return (
        at,
        actor.name[:255],
        actor.method[:32],
        actor.address[:64],
        actor.user_agent[:256],
        action[:64],
        project[:255],
        repository[:255],
        reference[:255],
        digest[:150],
        result[:16],
        target[:512],
        _json(detail),
    )


def _json(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, default=str)
