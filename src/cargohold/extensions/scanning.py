"""The scanning extension: vulnerability scans on push and on demand, the pull gate of a
project's scan policy, the vulnerability database and its jobs (its admin routes are
api/scanning.py, which the HTTP layer adds when the extension is enabled).

Imported only when `scanning = true`; scanning_disabled.py is its twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cargohold.config import Settings
from cargohold.extensions.base import CoreServices, Extension
from cargohold.meta.scan_policies import ScanPolicyRecords
from cargohold.meta.scans import ScanStore
from cargohold.meta.vulndb import VulnStore
from cargohold.oci.manifests import Manifest
from cargohold.services.archive_limits import ArchiveLimits
from cargohold.services.extension_points import ImageChecks
from cargohold.services.scan_jobs import ScanJobs
from cargohold.services.scan_policy import ScanPolicyService
from cargohold.services.scanning import ScanService

NAME = "scanning"


def _parse_osv(data: dict[str, Any]) -> Any:
    """scan.osv.parse_record, imported when a record is first read (by a scan)."""
    from cargohold.scan.osv import parse_record

    return parse_record(data)


@dataclass(frozen=True)
class ScanningExtension(Extension):
    """The extension, with the services its admin routes use."""

    # Scans, their stored results and the vulnerability database.
    scans: ScanService
    # Projects' scan policies (scan on push, the pull gate), the CVE allowlist, the SLA.
    scan_policies: ScanPolicyService
    scan_jobs: ScanJobs


def enable(settings: Settings, core: CoreServices) -> ScanningExtension:
    vulndb = VulnStore(core.meta.db, _parse_osv)
    # One store of scan results, read by the scanner and the policies alike.
    store = ScanStore(core.meta.db)
    scans = ScanService(core.meta, core.blobs, store, vulndb, events=core.events)
    scan_policies = ScanPolicyService(
        store, ScanPolicyRecords(core.meta.db), settings.scan_on_push, settings.sla_days
    )
    archive_limits = ArchiveLimits(
        settings.vulndb_zip_member_max_bytes, settings.vulndb_zip_max_ratio
    )
    scan_jobs = ScanJobs(core.jobs, scans, settings.vulndb_source_list, archive_limits)
    scan_jobs.add_schedule(settings.vulndb_schedule)

    def scan_on_push(repository: str, digest: str, manifest: Manifest, tag: str | None) -> None:
        if scan_policies.wants_scan_on_push(repository, manifest):
            scan_jobs.scan_pushed(repository, digest)

    return ScanningExtension(
        name=NAME,
        enabled=True,
        on_push=(scan_on_push,),
        pull_gates=(scan_policies.pull_gate(),),
        # A cluster runs what the project's scan policy would let be pulled.
        image_checks=ImageChecks(other=(scan_policies.check_pull,)),
        job_kinds=tuple(scan_jobs.kinds()),
        scans=scans,
        scan_policies=scan_policies,
        scan_jobs=scan_jobs,
    )
