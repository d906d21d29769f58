"""CycloneDX 1.5 JSON: the image's packages as an SBOM, with its vulnerabilities.

Built with cyclonedx-python-lib, which serializes the spec's shape (and validates the
dependency graph). The image is `metadata.component` (type container); each OS is an
`operating-system` component; each package a `library` whose bom-ref is its purl
(one component per purl: a package found in several places lists each location as a
property). The dependency graph goes image -> operating system -> OS packages -> the
language packages each OS package installed (see ownership.py); other packages hang from
the image. Vulnerabilities are grouped by ID, `affects` names the packages' bom-refs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityAdvisory,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

from cargohold import __version__
from cargohold.scan.findings import Finding, ScanResult, Severity
from cargohold.scan.model import OSInfo, Package
from cargohold.scan.report.common import is_os_package, platform_label, worst_first

SPEC_VERSION = "1.5"
PROPERTY = "cargohold:{}".format


def write(result: ScanResult, stream: TextIO) -> None:
    stream.write(JsonV1Dot5(bom(result)).output_as_string(indent=2))
    stream.write("\n")


def bom(result: ScanResult) -> Bom:
    document = Bom()
    image = _image(result)
    document.metadata.component = image
    document.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="cargohold", version=__version__)
    )
    libraries: dict[str, Component] = {}
    systems: dict[str, Component] = {}
    os_packages: dict[str, list[Component]] = {}
    owned: dict[str, list[Component]] = {}  # an OS package's bom-ref -> what it installed
    for platform in result.platforms:
        os_ref = None
        if platform.inventory.os is not None:
            system = _operating_system(platform.inventory.os)
            os_ref = str(system.bom_ref)
            systems.setdefault(os_ref, system)
        for package in platform.inventory.packages:
            component = libraries.get(package.purl)
            if component is None:
                component = libraries[package.purl] = _library(package)
                if os_ref is not None and is_os_package(package):
                    os_packages.setdefault(os_ref, []).append(component)
                elif package.owner is not None:
                    owned.setdefault(package.owner, []).append(component)
            component.properties.update(
                _package_properties(package, platform_label(platform.inventory))
            )
    for component in [*systems.values(), *libraries.values()]:
        document.components.add(component)
    owned = {ref: group for ref, group in owned.items() if ref in libraries}
    inside = {id(c) for group in [*os_packages.values(), *owned.values()] for c in group}
    document.register_dependency(
        image, [*systems.values(), *(c for c in libraries.values() if id(c) not in inside)]
    )
    for ref, system in systems.items():
        document.register_dependency(system, os_packages.get(ref, []))
    # A language package the distribution installed hangs under the OS package that owns it.
    for ref, group in owned.items():
        document.register_dependency(libraries[ref], group)
    findings = [f for p in result.platforms for f in worst_first(p.findings)]
    for vulnerability in _vulnerabilities(findings, libraries):
        document.vulnerabilities.add(vulnerability)
    return document


def _image(result: ScanResult) -> Component:
    properties = []
    for platform in result.platforms:
        properties.append(Property(name=PROPERTY("Digest"), value=platform.inventory.digest))
        if platform.inventory.platform is not None:
            properties.append(
                Property(name=PROPERTY("Platform"), value=str(platform.inventory.platform))
            )
    if result.db_version is not None:
        properties.append(Property(name=PROPERTY("DBVersion"), value=result.db_version))
    digests = {p.inventory.digest for p in result.platforms}
    return Component(
        type=ComponentType.CONTAINER,
        name=result.target,
        bom_ref=result.target,
        version=digests.pop() if len(digests) == 1 else None,
        properties=properties,
    )


def _operating_system(os: OSInfo) -> Component:
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=os.id,
        version=os.version_id,
        bom_ref=f"operating-system:{os.distro}",
        description=os.pretty_name,
    )


def _library(package: Package) -> Component:
    try:
        purl = PackageURL.from_string(package.purl)
    except ValueError:
        purl = None
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version,
        purl=purl,
        # The purl as the BOM spells it (canonical), so that bom-ref and purl are equal.
        bom_ref=purl.to_string() if purl is not None else package.purl,
    )


def _package_properties(package: Package, platform: str) -> list[Property]:
    properties = [
        Property(name=PROPERTY("PkgType"), value=package.type),
        Property(name=PROPERTY("FilePath"), value=package.location),
        Property(name=PROPERTY("LayerDigest"), value=package.layer.digest),
        Property(name=PROPERTY("Platform"), value=platform),
    ]
    if package.source_name:
        properties.append(Property(name=PROPERTY("SrcName"), value=package.source_name))
    if package.source_version:
        properties.append(Property(name=PROPERTY("SrcVersion"), value=package.source_version))
    return properties


def _vulnerabilities(
    findings: list[Finding], libraries: dict[str, Component]
) -> list[Vulnerability]:
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.id, []).append(finding)
    return [_vulnerability(vid, group, libraries) for vid, group in groups.items()]


def _vulnerability(
    vid: str, group: list[Finding], libraries: dict[str, Component]
) -> Vulnerability:
    first = group[0]  # worst first
    others = sorted(set().union(*(f.ids for f in group)) - {vid})
    ratings = {_rating(f.severity) for f in group}
    targets = {}
    for finding in group:
        ref = str(libraries[finding.package.purl].bom_ref)
        target = targets.setdefault(ref, BomTarget(ref=ref))
        target.versions.add(
            BomTargetVersionRange(
                version=finding.installed_version, status=ImpactAnalysisAffectedStatus.AFFECTED
            )
        )
    fixes = sorted({f"{f.package.name} {f.fixed_version}" for f in group if f.fixed_version})
    sources = sorted({f.severity.source for f in group if f.severity.source})
    return Vulnerability(
        bom_ref=vid,
        id=vid,
        source=_source(first.record_id),
        references=[VulnerabilityReference(id=other, source=_source(other)) for other in others],
        ratings=ratings,
        description=first.summary,
        recommendation=f"Upgrade to {', '.join(fixes)}" if fixes else None,
        advisories=[
            VulnerabilityAdvisory(url=XsUri(url))
            for url in dict.fromkeys(u for f in group for u in f.references)
        ],
        affects=targets.values(),
        properties=[Property(name=PROPERTY("SeveritySource"), value=s) for s in sources],
    )


def _source(record_id: str) -> VulnerabilitySource:
    return VulnerabilitySource(name="osv", url=XsUri(f"https://osv.dev/vulnerability/{record_id}"))


def _rating(severity: Severity) -> VulnerabilityRating:
    return VulnerabilityRating(
        severity=VulnerabilitySeverity(severity.level.lower()),
        score=Decimal(str(severity.score)) if severity.score is not None else None,
        method=_method(severity) if severity.score is not None else None,
    )


def _method(severity: Severity) -> VulnerabilityScoreSource:
    """The CVSS version named in the severity's source; OSV's CVSS_V3 is almost always 3.1."""
    source = severity.source.upper()
    if "CVSS_V4" in source:
        return VulnerabilityScoreSource.CVSS_V4
    if "CVSS_V3" in source:
        return VulnerabilityScoreSource.CVSS_V3_1
    if "CVSS_V2" in source:
        return VulnerabilityScoreSource.CVSS_V2
    return VulnerabilityScoreSource.OTHER
