"""What the scan store returns: stored reports and findings, the pull gate's and the
remediation report's view of findings, project scan policies and CVE allowlist entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The worst rank of a report without findings: ranks count up from the most severe
# (scan/findings.py), so this ranks after every severity.
NO_FINDINGS_RANK = 5


def package_label(key: str) -> str:
    """`deb:libc6@2.36-9 var/lib/dpkg/status` (a finding's package key) as `libc6 2.36-9`."""
    identity = key.split(" ", 1)[0]
    name, _, version = identity.partition(":")[2].rpartition("@")
    return f"{name} {version}" if name else identity


@dataclass(frozen=True)
class StoredFinding:
    vuln_id: str
    package_key: str
    severity_rank: int
    ids: tuple[str, ...]
    fixed: bool
    first_seen: float
    data: dict[str, Any]


@dataclass(frozen=True)
class ScanReportRow:
    digest: str
    status: str  # ok | error (the scan failed: `error` says why) | running
    error: str | None
    scanned_at: float
    evaluated_at: float
    db_version: str | None
    inventory: list[dict[str, Any]] | None
    worst_rank: int
    blocking_problem: str | None


@dataclass(frozen=True)
class ScanPolicyRow:
    project: str
    scan_on_push: bool | None
    prevent_severity: str | None
    prevent_unscanned: bool
    updated_at: float
    updated_by: str


@dataclass(frozen=True)
class AllowlistRow:
    id: int
    project: str  # "" = system-wide
    vuln_id: str
    reason: str
    expires_at: float | None
    created_at: float
    created_by: str

    def active(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class GateFinding:
    digest: str
    vuln_id: str
    ids: tuple[str, ...]
    severity_rank: int
    package: str  # "name version"


@dataclass(frozen=True)
class FailedScan:
    """An image, as stored in a repository, whose scan failed: what the remediation report
    lists beside the findings, since nothing about it was checked."""

    repository: str
    digest: str  # the manifest as stored (an index when a platform's scan failed)
    scanned_digest: str  # the image manifest whose scan failed
    tags: tuple[str, ...]
    error: str
    failed_at: float


@dataclass(frozen=True)
class OpenFinding:
    """A finding as the remediation report sees it: where it is and since when."""

    repository: str
    digest: str
    tags: tuple[str, ...]
    vuln_id: str
    ids: tuple[str, ...]
    severity_rank: int
    package: str
    fixed: bool
    first_seen: float
