"""Response models for scan policies: projects' policies, the CVE allowlist and the
remediation (overdue) report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.scanning import Level
from cargohold.api.models.times import UtcTime, utc, utc_or_none
from cargohold.oci.names import project_of

if TYPE_CHECKING:  # as in api/models/scanning.py: a server with scanning off never loads it
    from cargohold.services import scan_policy as facts


class ScanPolicy(Model):
    """A project's scan policy, or the defaults when it has none."""

    project: str
    scan_on_push: Annotated[
        bool | None, msgspec.Meta(description="null: the server's scan_on_push setting")
    ]
    prevent_severity: Annotated[
        Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] | None,
        msgspec.Meta(description="Pulls of images with a finding at or above it are refused"),
    ]
    prevent_unscanned: Annotated[
        bool,
        msgspec.Meta(
            description="Pulls of images not scanned yet are refused. An image whose scan failed"
            " is refused under any policy that refuses something (fail closed)"
        ),
    ]
    updated_at: Annotated[UtcTime | None, msgspec.Meta(description="null for the defaults")]
    updated_by: str | None
    default: Annotated[bool, msgspec.Meta(description="No policy set: the defaults")]

    @classmethod
    def of(cls, policy: facts.ProjectScanPolicy) -> ScanPolicy:
        return cls(
            project=policy.project,
            scan_on_push=policy.scan_on_push,
            prevent_severity=policy.prevent_severity,  # type: ignore[arg-type]
            prevent_unscanned=policy.prevent_unscanned,
            updated_at=utc_or_none(policy.updated_at),
            updated_by=policy.updated_by,
            default=policy.default,
        )


class ScanPolicyList(Model):
    policies: list[ScanPolicy]


class AllowlistEntry(Model):
    id: int
    project: Annotated[str | None, msgspec.Meta(description="null: system-wide")]
    vulnerability: Annotated[str, msgspec.Meta(description="Any id of the vulnerability")]
    reason: str
    expires_at: Annotated[UtcTime | None, msgspec.Meta(description="null: never")]
    active: Annotated[bool, msgspec.Meta(description="Not expired when it was read")]
    created_at: UtcTime
    created_by: str

    @classmethod
    def of(cls, allowed: facts.AllowlistEntry) -> AllowlistEntry:
        entry = allowed.entry
        return cls(
            id=entry.id,
            project=entry.project or None,
            vulnerability=entry.vuln_id,
            reason=entry.reason,
            expires_at=utc_or_none(entry.expires_at),
            active=allowed.active,
            created_at=utc(entry.created_at),
            created_by=entry.created_by,
        )


class Allowlist(Model):
    entries: list[AllowlistEntry]


class OverdueFinding(Model):
    project: str
    repository: str
    digest: str
    tags: list[str]
    id: Annotated[str, msgspec.Meta(description="The vulnerability")]
    severity: Level
    package: Annotated[str, msgspec.Meta(description="NAME VERSION")]
    fix_available: bool
    first_seen_at: UtcTime
    due_at: Annotated[UtcTime, msgspec.Meta(description="First seen plus the severity's SLA")]
    overdue_days: Annotated[float, msgspec.Meta(description="Days past due, to a tenth")]

    @classmethod
    def of(cls, overdue: facts.OverdueFinding) -> OverdueFinding:
        finding = overdue.finding
        return cls(
            project=overdue.project,
            repository=finding.repository,
            digest=finding.digest,
            tags=list(finding.tags),
            id=finding.vuln_id,
            severity=overdue.severity,  # type: ignore[arg-type]
            package=finding.package,
            fix_available=finding.fixed,
            first_seen_at=utc(finding.first_seen),
            due_at=utc(overdue.due_at),
            overdue_days=overdue.overdue_days,
        )


class OverdueImage(Model):
    project: str
    repository: str
    digest: str
    tags: list[str]
    overdue: Annotated[dict[str, int], msgspec.Meta(description="Overdue findings per severity")]


class FailedScan(Model):
    """An image whose scan failed: none of its vulnerabilities are known or counted."""

    project: str
    repository: str
    digest: Annotated[str, msgspec.Meta(description="The manifest stored in the repository")]
    scanned_digest: Annotated[
        str, msgspec.Meta(description="The image manifest whose scan failed (a platform's)")
    ]
    tags: list[str]
    status: Annotated[Literal["failed"], msgspec.Meta(description="Always `failed`")]
    reason: Annotated[str, msgspec.Meta(description="Why the scan failed, one line")]
    failed_at: UtcTime


class OverdueReport(Model):
    """Findings past their remediation deadline, allowlisted ones aside."""

    at: Annotated[UtcTime, msgspec.Meta(description="The moment judged (?at=, or now)")]
    sla_days: Annotated[dict[str, int], msgspec.Meta(description="Days to remediate, per severity")]
    findings: list[OverdueFinding]
    images: list[OverdueImage]
    failed_scans: Annotated[
        list[FailedScan],
        msgspec.Meta(description="Images whose scan failed: rescan them to know their findings"),
    ]

    @classmethod
    def of(cls, report: facts.OverdueReport) -> OverdueReport:
        return cls(
            at=utc(report.at),
            sla_days=dict(report.sla_days),
            findings=[OverdueFinding.of(f) for f in report.findings],
            images=[
                OverdueImage(
                    project=i.project,
                    repository=i.repository,
                    digest=i.digest,
                    tags=list(i.tags),
                    overdue=dict(i.overdue),
                )
                for i in report.images
            ],
            failed_scans=[
                FailedScan(
                    project=project_of(f.repository),
                    repository=f.repository,
                    digest=f.digest,
                    scanned_digest=f.scanned_digest,
                    tags=list(f.tags),
                    status="failed",
                    reason=f.error,
                    failed_at=utc(f.failed_at),
                )
                for f in report.failed_scans
            ],
        )
