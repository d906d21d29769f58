"""Response models for the audit log (GET /api/v1/audit and its JSON lines export)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.times import UtcTime, utc
from cargohold.meta.audit import AuditEvent as AuditEventRow


def _given(value: str) -> str | None:
    """A field the entry does not have (or an entry older than the field lacks) is null."""
    return value or None


class AuditEvent(Model):
    id: int
    at: Annotated[UtcTime, msgspec.Meta(description="When it happened (a batch: the first)")]
    actor: Annotated[
        str,
        msgspec.Meta(
            description="The user or robot name, `anonymous`, or `schedule`/`system` for work "
            "no request made; for a login, the account tried"
        ),
    ]
    method: Annotated[
        str | None,
        msgspec.Meta(
            description="How the actor authenticated: anonymous, password, robot, token, "
            "bearer; job or system for background work"
        ),
    ]
    address: Annotated[str | None, msgspec.Meta(description="The request's source address")]
    user_agent: Annotated[str | None, msgspec.Meta(description="The request's User-Agent")]
    action: Annotated[str, msgspec.Meta(description="What was done, e.g. manifest.push")]
    result: Annotated[str, msgspec.Meta(description="ok, denied or failed")]
    project: str | None
    repository: str | None
    reference: Annotated[str | None, msgspec.Meta(description="A tag or digest, as named")]
    digest: str | None
    target: Annotated[str, msgspec.Meta(description="What the entry is about, in one string")]
    detail: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description="The entry's own facts, with the keys it was written with; batched "
            "entries (pulls, logins, denials) carry `count` and, past one, `lastAt`"
        ),
    ]

    @classmethod
    def of(cls, row: AuditEventRow) -> AuditEvent:
        return cls(
            id=row.id,
            at=utc(row.at),
            actor=row.actor,
            method=_given(row.method),
            address=_given(row.address),
            user_agent=_given(row.user_agent),
            action=row.action,
            result=row.result,
            project=_given(row.project),
            repository=_given(row.repository),
            reference=_given(row.reference),
            digest=_given(row.digest),
            target=row.target,
            detail=row.detail,
        )


class AuditList(Model):
    events: Annotated[list[AuditEvent], msgspec.Meta(description="Newest (highest id) first")]
    next: Annotated[
        str | None,
        msgspec.Meta(
            description="Pass as `cursor` for the next page with the same filters; null on "
            "the last page"
        ),
    ]
