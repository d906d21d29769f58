"""Images a cluster runs: those the admission webhook admitted within admission_keep_days.
Lifecycle policies and garbage collection never expire them (docs/trust.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cargohold.meta.admissions import AdmissionRecords, AdmissionRow

DAY = 86400.0
# The reason the lifecycle preview gives for an image it keeps this way.
RUNNING = "running"


@dataclass(frozen=True)
class RunningImages:
    records: AdmissionRecords
    keep_seconds: float  # 0: admissions keep nothing

    @classmethod
    def of_days(cls, records: AdmissionRecords, days: int) -> RunningImages:
        return cls(records, days * DAY)

    def since(self, now: float) -> float | None:
        """The earliest admission that still keeps its image (None: none does)."""
        return now - self.keep_seconds if self.keep_seconds > 0 else None

    def in_repository(self, repository: str, now: float) -> dict[str, AdmissionRow]:
        """Each digest of the repository admitted recently enough, with its latest admission."""
        since = self.since(now)
        return {} if since is None else self.records.latest_since(repository, since)


def describe(row: AdmissionRow) -> str:
    """Where and when an image was last admitted, in one line."""
    when = dt.datetime.fromtimestamp(row.last_admitted_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = f"{row.namespace}/" if row.namespace else ""
    return f"admitted to cluster {row.cluster} ({where}{row.kind} {row.name}) at {when}"
