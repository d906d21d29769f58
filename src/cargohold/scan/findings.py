"""The result model of matching an inventory against a vulnerability database.

Shared by the matcher (which makes findings), the report writers (table, JSON,
SARIF, CycloneDX, SPDX), the gates and the registry's stored scan results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cargohold.scan.model import Inventory, Package

# Severity levels, worst first. UNKNOWN is what a finding gets when no source names one.
SEVERITIES: tuple[str, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


def severity_rank(level: str) -> int:
    """0 for CRITICAL ... 4 for UNKNOWN: lower is worse."""
    return SEVERITIES.index(level)


@dataclass(frozen=True)
class Severity:
    level: str  # one of SEVERITIES
    score: float | None = None  # CVSS base score when the level came from a vector
    # Where the level came from, for the report, e.g.
    # "DSA-5514-1 affected[0].severity CVSS_V3" or "CVE-2023-4911 severity CVSS_V3 (upstream)".
    source: str = ""


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one package of one image platform."""

    id: str  # the CVE when one is known (from id, aliases or upstream), else the record's ID
    record_id: str  # the OSV record's own ID (DSA-..., GHSA-..., PYSEC-..., ALPINE-CVE-...)
    aliases: tuple[str, ...]  # every other ID the record is known by (aliases + upstream)
    package: Package
    installed_version: str  # the version compared: the source version for OS packages
    fixed_version: str | None  # the lowest fix above the installed version, when known
    severity: Severity
    summary: str | None = None
    references: tuple[str, ...] = ()  # URLs
    ecosystem: str = ""  # the OSV ecosystem matched, e.g. "Debian:12", "PyPI"

    @property
    def ids(self) -> frozenset[str]:
        """Every ID an allowlist or ignore file may name to match this finding."""
        return frozenset({self.id, self.record_id, *self.aliases})

    @property
    def fixed(self) -> bool:
        return self.fixed_version is not None


@dataclass
class PlatformResult:
    """One platform of a scanned image: its inventory and what matched."""

    inventory: Inventory
    findings: list[Finding] = field(default_factory=list)


@dataclass
class ScanResult:
    """A whole scan: every platform of the image, and the database it was matched against."""

    target: str  # what the user named: "oci:./dir:tag", "localhost:5000/app:1", ...
    platforms: list[PlatformResult]
    db_version: str | None = None  # identifies the vulnerability database state used
