"""Per-project storage quotas: what a project may store, and what it stores now.

Usage is the bytes of the distinct blobs the project's manifests reference, plus those pushed
or mounted within the garbage collector's grace period that no manifest references yet (a push
whose manifest has not arrived): a blob shared by two repositories of the project counts once;
manifests themselves are not counted. A refused push or deleted images stop counting once
their links are older than the grace period (see meta/quotas.py). It is
checked, inside the write transaction, whenever a blob is linked (an upload completes, a
mount), and when a manifest is put, with the blobs it makes count again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cargohold.errors import QuotaInvalid, QuotaUnknown
from cargohold.meta.quotas import QuotaRecords
from cargohold.oci.names import is_valid_name
from cargohold.services.caller import Caller


def _check_project(project: str) -> str:
    if "/" in project or not is_valid_name(project):
        raise QuotaInvalid(f"{project[:100]!r} is not a project name (one path component)")
    return project


@dataclass(frozen=True)
class ProjectQuota:
    """A project's limit (None: no quota) and what it stores now, in bytes."""

    project: str
    limit: int | None
    usage: int


class QuotaService:
    def __init__(self, records: QuotaRecords) -> None:
        self.records = records

    def get(self, project: str) -> ProjectQuota:
        limit, usage = self.records.get(_check_project(project), usage_without_quota=True)
        return ProjectQuota(project, limit, usage)

    def set(self, project: str, document: Any, caller: Caller) -> ProjectQuota:
        _check_project(project)
        limit = document.get("limitBytes") if isinstance(document, dict) else None
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise QuotaInvalid('the body must be {"limitBytes": <non-negative integer>}')
        self.records.set(project, limit, caller.as_actor())
        return self.get(project)

    def remove(self, project: str, caller: Caller) -> None:
        if self.get(project).limit is None:
            raise QuotaUnknown(detail={"project": project})
        self.records.set(project, None, caller.as_actor())
