"""The scanning kinds of job: `scan`, `vulndb-update` and `reevaluate` (see services/jobs.py
for how jobs run). Registered by the scanning extension only."""

from __future__ import annotations

from typing import Any

from cargohold.services.archive_limits import ArchiveLimits
from cargohold.services.caller import Caller, system_caller
from cargohold.services.jobs import (
    SCHEDULE_ACTOR,
    JobArg,
    JobKind,
    JobService,
    _manifest_digest,
    _repository_name,
)
from cargohold.services.scanning import ScanService


class ScanJobs:
    """The scanning kinds of job, registered on a JobService."""

    def __init__(
        self,
        jobs: JobService,
        scans: ScanService,
        sources: list[str],
        archive_limits: ArchiveLimits,
    ) -> None:
        self.jobs = jobs
        self.scans = scans
        self.sources = sources
        # How far a zip source may expand; the admin API's uploads use the same limits.
        self.archive_limits = archive_limits

    def kinds(self) -> list[JobKind]:
        """The kinds of job scanning adds; the composition root registers them."""
        return [
            JobKind(
                "scan",
                self._scan,
                {
                    "repository": JobArg(str, required=True, check=_repository_name),
                    "digest": JobArg(str, required=True, check=_manifest_digest),
                    "rescan": JobArg(bool),
                },
            ),
            JobKind("vulndb-update", self._update, {}),
            JobKind("reevaluate", self._reevaluate, {}),
        ]

    def add_schedule(self, schedule: str) -> None:
        if self.sources:
            self.jobs.queue.register_schedule(
                "vulndb-update",
                schedule,
                lambda: self.jobs.submit(
                    "vulndb-update", {}, "schedule", system_caller(SCHEDULE_ACTOR)
                ),
            )

    def scan_pushed(self, repository: str, digest: str) -> None:
        self.jobs.submit_untracked("scan", {"repository": repository, "digest": digest})

    def _scan(
        self, caller: Caller, repository: str, digest: str, rescan: bool = False
    ) -> dict[str, Any]:
        return self.scans.scan(repository, digest, rescan).as_record()

    def _update(self, caller: Caller) -> dict[str, Any]:
        """The admin API's VulnDbUpdateReport document (api/models/scanning.py): the sources
        imported, those that could not be read, and the re-evaluation that followed."""
        from cargohold.services.vulndb import import_source
        from cargohold.services.vulndb_sources import SourceError

        imports, failures = [], []
        for source in self.sources:
            try:
                result = import_source(self.scans.vulndb, source, limits=self.archive_limits)
            except SourceError as exc:
                failures.append({"location": source, "error": str(exc)})
                continue
            imports.append(result.as_record())
        return {
            "imports": imports,
            "failures": failures,
            "reevaluation": self.scans.reevaluate_all().as_record(),
        }

    def _reevaluate(self, caller: Caller) -> dict[str, Any]:
        return self.scans.reevaluate_all().as_record()
