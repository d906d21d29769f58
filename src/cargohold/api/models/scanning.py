"""Response models for scanning: stored scan results (inventories and findings), the reports of
the scanning jobs, and the registry's vulnerability database.

The stored result is cargohold's own document, which `cargohold scan` reads back
(scan/storedform.py reads these keys); `?format=json|sarif|cyclonedx|spdx` renders other
documents, which keep their own shapes (api/openapi/scanning_paths.py describes them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.times import UtcTime, utc, utc_or_none

# The facts these models are made from, for the type checker only: the OpenAPI document is
# generated from every model when a server starts, and a server with scanning off never
# imports the scanner (tests/api/test_scanning_off.py).
if TYPE_CHECKING:
    from cargohold.meta.vulndb import SourceStatus
    from cargohold.meta.vulndb import VulnDbStatus as VulnDbFacts
    from cargohold.scan import findings as scan_findings
    from cargohold.scan import model as scan_model
    from cargohold.services.scanning import Reevaluation, ScanOutcome, StoredScan
    from cargohold.services.vulndb import ImportResult

Level = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]

# -- a stored scan ----------------------------------------------------------------------


class ImageLayer(Model):
    index: Annotated[int, msgspec.Meta(description="The layer's position; 0 is the base")]
    digest: str

    @classmethod
    def of(cls, layer: scan_model.LayerRef) -> ImageLayer:
        return cls(index=layer.index, digest=layer.digest)


class ImagePlatform(Model):
    os: str
    architecture: str
    variant: str | None


class OsRelease(Model):
    """The image's operating system, from /etc/os-release (or its stand-ins)."""

    id: str
    version_id: str | None
    name: str | None
    pretty_name: str | None
    version_codename: str | None
    id_like: list[str]


class Package(Model):
    type: Annotated[str, msgspec.Meta(description="The purl type: deb, apk, rpm, pypi, npm...")]
    name: str
    version: str
    purl: str
    layer: Annotated[ImageLayer, msgspec.Meta(description="The layer that installed it")]
    location: Annotated[str, msgspec.Meta(description="The file it was read from")]
    source_name: str | None
    source_version: str | None
    arch: str | None
    owner: Annotated[
        str | None,
        msgspec.Meta(
            description="The purl of the OS package whose file list names the location: a "
            "language package the distribution installed, judged by that OS package's advisories"
        ),
    ] = None

    @classmethod
    def of(cls, package: scan_model.Package) -> Package:
        return cls(
            type=package.type,
            name=package.name,
            version=package.version,
            purl=package.purl,
            layer=ImageLayer.of(package.layer),
            location=package.location,
            source_name=package.source_name,
            source_version=package.source_version,
            arch=package.arch,
            owner=package.owner,
        )


class InventoryProblem(Model):
    code: Annotated[
        str,
        msgspec.Meta(
            description="os-packages-not-inventoried (blocking: a gate refuses the image), "
            "unreadable-file, no-advisory-source, truncated-layer"
        ),
    ]
    message: str
    location: str | None
    layer: Annotated[
        ImageLayer | None, msgspec.Meta(description="The layer the problem is about, if one")
    ] = None


class Inventory(Model):
    """What one platform's image contains."""

    digest: Annotated[str, msgspec.Meta(description="The platform's manifest digest")]
    platform: ImagePlatform | None
    os: OsRelease | None
    layers: list[ImageLayer]
    packages: list[Package]
    problems: list[InventoryProblem]

    @classmethod
    def of(cls, inventory: scan_model.Inventory) -> Inventory:
        platform, os = inventory.platform, inventory.os
        return cls(
            digest=inventory.digest,
            platform=None
            if platform is None
            else ImagePlatform(
                os=platform.os, architecture=platform.architecture, variant=platform.variant
            ),
            os=None
            if os is None
            else OsRelease(
                id=os.id,
                version_id=os.version_id,
                name=os.name,
                pretty_name=os.pretty_name,
                version_codename=os.version_codename,
                id_like=list(os.id_like),
            ),
            layers=[ImageLayer.of(layer) for layer in inventory.layers],
            packages=[Package.of(package) for package in inventory.packages],
            problems=[
                InventoryProblem(
                    code=p.code,
                    message=p.message,
                    location=p.location,
                    layer=None if p.layer is None else ImageLayer.of(p.layer),
                )
                for p in inventory.problems
            ],
        )


class Severity(Model):
    level: Level
    score: Annotated[float | None, msgspec.Meta(description="The CVSS base score, if any")]
    source: Annotated[str, msgspec.Meta(description="Where the level came from")]


class Finding(Model):
    """One vulnerability in one package of one platform."""

    id: Annotated[str, msgspec.Meta(description="The CVE when one is known, else the record's")]
    record_id: Annotated[str, msgspec.Meta(description="The OSV record's own id")]
    aliases: list[str]
    package: Package
    installed_version: Annotated[
        str, msgspec.Meta(description="The version compared: the source's for OS packages")
    ]
    fixed_version: str | None
    severity: Severity
    summary: str | None
    references: list[str]
    ecosystem: Annotated[str, msgspec.Meta(description="The OSV ecosystem matched")]
    first_seen_at: Annotated[
        UtcTime | None,
        msgspec.Meta(description="When the registry first found it in this image"),
    ]

    @classmethod
    def of(cls, finding: scan_findings.Finding, first_seen: float | None) -> Finding:
        severity = finding.severity
        return cls(
            id=finding.id,
            record_id=finding.record_id,
            aliases=list(finding.aliases),
            package=Package.of(finding.package),
            installed_version=finding.installed_version,
            fixed_version=finding.fixed_version,
            severity=Severity(
                level=severity.level,  # type: ignore[arg-type]
                score=severity.score,
                source=severity.source,
            ),
            summary=finding.summary,
            references=list(finding.references),
            ecosystem=finding.ecosystem,
            first_seen_at=utc_or_none(first_seen),
        )


class PlatformScan(Model):
    inventory: Inventory
    findings: list[Finding]
    scanned_at: Annotated[UtcTime, msgspec.Meta(description="When its layers were read")]
    evaluated_at: Annotated[
        UtcTime, msgspec.Meta(description="When it was last matched against the database")
    ]
    db_version: str | None
    stale: Annotated[
        bool,
        msgspec.Meta(
            description="Its inventory was made by an older version of the package readers: "
            "the next `reevaluate` job, or a scan asked for (POST .../scan), reads its layers "
            "again"
        ),
    ] = False


class ScanResult(Model):
    """The stored scan of an image: one entry per platform (an index: every platform)."""

    target: Annotated[str, msgspec.Meta(description="REPOSITORY@DIGEST")]
    status: Annotated[
        Literal["done"],
        msgspec.Meta(
            description="Always `done` here: a scan pending or running answers 404 SCAN_UNKNOWN"
            " (detail.status `pending` or `running`), a failed one 409 SCAN_FAILED"
            " (detail.status `failed`, detail.reason)"
        ),
    ]
    db_version: Annotated[
        str | None, msgspec.Meta(description="The vulnerability database matched against")
    ]
    platforms: list[PlatformScan]

    @classmethod
    def of(cls, stored: StoredScan) -> ScanResult:
        from cargohold.scan.model import INVENTORY_VERSION  # only where scanning is on

        result = stored.result
        return cls(
            target=result.target,
            status="done",
            db_version=result.db_version,
            platforms=[
                PlatformScan(
                    inventory=Inventory.of(platform.inventory),
                    findings=[Finding.of(f, stored.first_seen(i, f)) for f in platform.findings],
                    scanned_at=utc(record.scanned_at),
                    evaluated_at=utc(record.evaluated_at),
                    db_version=record.db_version,
                    stale=platform.inventory.version < INVENTORY_VERSION,
                )
                for i, (platform, record) in enumerate(
                    zip(result.platforms, stored.records, strict=True)
                )
            ],
        )


# -- the scanning jobs' reports -----------------------------------------------------------


class ScanJobReport(Model):
    """A `scan` job's result."""

    digest: str
    platforms: Annotated[int, msgspec.Meta(description="Image manifests among its targets")]
    scanned: Annotated[int, msgspec.Meta(description="Platforms whose layers were read now")]
    reused: Annotated[int, msgspec.Meta(description="Platforms scanned before: only matched again")]
    skipped: Annotated[str | None, msgspec.Meta(description="Why nothing was scanned")]
    findings: int
    error: Annotated[str | None, msgspec.Meta(description="A platform's scan that failed")]

    @classmethod
    def of(cls, outcome: ScanOutcome) -> ScanJobReport:
        return cls(
            digest=outcome.digest,
            platforms=outcome.platforms,
            scanned=outcome.scanned,
            reused=outcome.reused,
            skipped=outcome.skipped,
            findings=outcome.findings,
            error=outcome.error,
        )


class ReevaluationReport(Model):
    """A `reevaluate` job's result: stored reports brought to the current database."""

    reports: int
    matched_again: Annotated[
        int, msgspec.Meta(description="Reports with a package the change touched")
    ]
    seconds: float
    rescanned: Annotated[
        int,
        msgspec.Meta(
            description="Reports made by an older version of the scanner's package readers, "
            "scanned again from their layers (absent from results of older versions)"
        ),
    ] = 0

    @classmethod
    def of(cls, facts: Reevaluation) -> ReevaluationReport:
        return cls(
            reports=facts.reports,
            matched_again=facts.matched_again,
            seconds=facts.seconds,
            rescanned=facts.rescanned,
        )


# -- the vulnerability database -----------------------------------------------------------


class VulnDbSource(Model):
    name: str
    location: str
    records: int
    last_import_at: UtcTime | None
    last_modified_at: Annotated[
        UtcTime | None, msgspec.Meta(description="The newest `modified` of its records")
    ]

    @classmethod
    def of(cls, source: SourceStatus) -> VulnDbSource:
        return cls(
            name=source.name,
            location=source.location,
            records=source.records,
            last_import_at=utc_or_none(source.last_import_at),
            last_modified_at=utc_or_none(source.last_modified),
        )


class VulnDbStatus(Model):
    """The vulnerability database: its version, what it holds, and where that came from."""

    version: Annotated[str, msgspec.Meta(description="Changes whenever records change")]
    updated_at: Annotated[UtcTime | None, msgspec.Meta(description="When records last changed")]
    records: int
    packages: Annotated[int, msgspec.Meta(description="Distinct (ecosystem, name) pairs")]
    ecosystems: Annotated[dict[str, int], msgspec.Meta(description="Records per ecosystem")]
    sources: list[VulnDbSource]

    @classmethod
    def of(cls, status: VulnDbFacts) -> VulnDbStatus:
        return cls(
            version=status.version,
            updated_at=utc_or_none(status.updated_at),
            records=status.records,
            packages=status.packages,
            ecosystems=dict(status.ecosystems),
            sources=[VulnDbSource.of(source) for source in status.sources],
        )


class VulnDbImport(Model):
    """What an import of OSV records did."""

    name: str
    location: str
    full: Annotated[bool, msgspec.Meta(description="Records missing from the source removed")]
    added: int
    updated: int
    unchanged: int
    withdrawn: int
    removed: int
    invalid: int
    invalid_messages: Annotated[list[str], msgspec.Meta(description="The first few")]
    packages_touched: int
    version: Annotated[str, msgspec.Meta(description="The database version after it")]
    seconds: float
    reevaluation_job: Annotated[
        str | None,
        msgspec.Meta(
            description="The reevaluate job queued because records changed (null: none was); "
            "absent in a vulndb-update job, which re-evaluates itself"
        ),
    ] = None

    @classmethod
    def of(cls, result: ImportResult, reevaluation_job: str | None = None) -> VulnDbImport:
        return cls(
            name=result.name,
            location=result.location,
            full=result.full,
            added=result.added,
            updated=result.updated,
            unchanged=result.unchanged,
            withdrawn=result.withdrawn,
            removed=result.removed,
            invalid=result.invalid,
            invalid_messages=list(result.invalid_messages),
            packages_touched=len(result.keys_touched),
            version=result.version,
            seconds=round(result.seconds, 3),
            reevaluation_job=reevaluation_job,
        )


class SourceFailure(Model):
    location: str
    error: Annotated[str, msgspec.Meta(description="Why the source could not be read")]


class VulnDbUpdateReport(Model):
    """A `vulndb-update` job's result: each configured source imported, or why not."""

    imports: list[VulnDbImport]
    failures: list[SourceFailure]
    reevaluation: ReevaluationReport
