"""Helpers the report writers share: ordering, labels, links and scores."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from cargohold.scan.findings import SEVERITIES, Finding, severity_rank
from cargohold.scan.model import OS_PACKAGE_TYPES, Inventory, OSInfo, Package

# GitHub code scanning reads `security-severity` as a CVSS-like score: >= 9.0 critical,
# 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low. A level without a score gets a representative
# score inside its band (the values Trivy uses).
LEVEL_SCORES = {"CRITICAL": 9.5, "HIGH": 8.0, "MEDIUM": 5.5, "LOW": 2.0, "UNKNOWN": 0.0}


def worst_first(findings: Iterable[Finding]) -> list[Finding]:
    """Worst severity first, higher score first within a level, then by package and ID."""
    return sorted(
        findings,
        key=lambda f: (
            severity_rank(f.severity.level),
            -(f.severity.score or 0.0),
            f.package.name,
            f.package.version,
            f.id,
        ),
    )


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    counts = Counter(f.severity.level for f in findings)
    return {level: counts.get(level, 0) for level in SEVERITIES}


def severity_score(finding: Finding) -> float:
    if finding.severity.score is not None:
        return finding.severity.score
    return LEVEL_SCORES.get(finding.severity.level, 0.0)


def advisory_url(finding: Finding) -> str:
    """The first reference, else the record on osv.dev."""
    if finding.references:
        return finding.references[0]
    return f"https://osv.dev/vulnerability/{finding.record_id}"


def platform_label(inventory: Inventory) -> str:
    return str(inventory.platform) if inventory.platform is not None else "unknown platform"


def os_label(os: OSInfo | None) -> str:
    if os is None:
        return "unknown OS"
    return os.pretty_name or " ".join(part for part in (os.id, os.version_id) if part)


def is_os_package(package: Package) -> bool:
    return package.type in OS_PACKAGE_TYPES
