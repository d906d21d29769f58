"""Images a cluster runs: those the admission webhook admitted within admission_keep_days.
Lifecycle policies and garbage collection never expire them (docs/trust.md). Records older
than admission_history_days are history no one keeps: garbage collection deletes them."""

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
    history_seconds: float = 0.0  # 0: records are kept for ever

    @classmethod
    def of_days(cls, records: AdmissionRecords, days: int, history_days: int = 0) -> RunningImages:
        return cls(records, days * DAY, history_days * DAY)

    def purge_history(self, now: float) -> int:
        """Delete the records older than the history window; how many went."""
        if self.history_seconds <= 0:
            return 0
        # Never one that still keeps its image (validation keeps history >= keep already).
        return self.records.purge_before(now - max(self.history_seconds, self.keep_seconds))

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
