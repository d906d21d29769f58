"""Match an image's inventory against OSV records: the findings of one platform.

Pure: the records come from a `RecordSource` (the vulnerability database store, or a
dict in tests), nothing here touches a database or the network.

OS packages are matched the way their distributions publish advisories: by source
package and release-scoped ecosystem (`Debian:12`, `Ubuntu:22.04:LTS`, `Alpine:v3.19`),
so an advisory for one release never applies to another. Language packages are matched
in their registry's ecosystem (PyPI, npm, Go, Maven, ...).

One finding per (package, vulnerability): records that name the same vulnerability
(a DSA and the DEBIAN-CVE record for the same CVE, a GHSA and its PYSEC twin) become one
finding with every id in `aliases`. A record that bundles several upstream CVEs (a DSA,
a USN) gives one finding per CVE, each with only its own CVE among its ids, so an ignore
entry for one CVE does not hide the others (the record's own id still matches all).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from packageurl import PackageURL

from cargohold.scan.distributions import (
    apk_ecosystems,
    deb_ecosystems,
    rpm_ecosystems,
    rpm_names,
)
from cargohold.scan.findings import Finding, Severity, severity_rank
from cargohold.scan.model import (
    NO_ADVISORY_SOURCE,
    OS_PACKAGE_TYPES,
    Inventory,
    OSInfo,
    Package,
    Problem,
)
from cargohold.scan.osv import AffectedPackage, OsvRecord, ecosystem_base, normalize_name
from cargohold.scan.severity import UNKNOWN, own_severity, severity_for
from cargohold.scan.versions import evaluate, highest


class RecordSource(Protocol):
    """Where OSV records come from (meta.vulndb.VulnStore implements it)."""

    def records_for(self, ecosystem: str, name: str) -> list[OsvRecord]:
        """Records with an affected package in exactly `ecosystem` named `name` (normalised)."""
        ...

    def records_by_ids(self, ids: Iterable[str]) -> list[OsvRecord]:
        """Records whose id, or one of whose aliases or upstream ids, is among `ids`."""
        ...


@dataclass(frozen=True)
class Target:
    """What one package is looked up as: an OSV ecosystem, a normalised name, a version."""

    ecosystem: str
    name: str
    version: str


# Language package purl types -> OSV ecosystem.
_LANGUAGE_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "maven": "Maven",
    "gem": "RubyGems",
    "cargo": "crates.io",
    "nuget": "NuGet",
    "composer": "Packagist",
}


_LANGUAGE_ECOSYSTEM_NAMES = frozenset(_LANGUAGE_ECOSYSTEMS.values())


def coverage_problems(inventory: Inventory) -> list[Problem]:
    """A problem when OS packages were inventoried but no advisory ecosystem covers them
    (an unknown or unsupported distribution): the report says so instead of looking clean."""
    unchecked = [
        p
        for p in inventory.packages
        if p.type in OS_PACKAGE_TYPES and not targets_for(p, inventory.os)
    ]
    if not unchecked or any(p.code == NO_ADVISORY_SOURCE for p in inventory.problems):
        return []
    os = inventory.os
    named = (os.pretty_name or f"{os.id} {os.version_id or ''}".strip()) if os else "an unknown OS"
    return [
        Problem(
            NO_ADVISORY_SOURCE,
            f"no vulnerability advisories are known for {named}: its {len(unchecked)} OS "
            "packages were listed but not checked",
        )
    ]


def targets_for(package: Package, os: OSInfo | None) -> list[Target]:
    """The (ecosystem, name, version) keys under which advisories for `package` are filed.

    Empty when the package's distribution or type has no OSV ecosystem this knows, and for
    a language package the distribution installed (`owner`): that OS package's advisories
    judge it, and the OS package is matched under its own name.
    """
    if package.owner is not None:
        return []
    if package.type in _LANGUAGE_ECOSYSTEMS:
        ecosystem = _LANGUAGE_ECOSYSTEMS[package.type]
        name = _maven_name(package) if ecosystem == "Maven" else package.name
        return [Target(ecosystem, normalize_name(ecosystem, name), package.version)]
    if os is None:
        return []
    source = package.source_name or package.name
    if package.type == "deb":
        version = package.source_version or package.version
        return [Target(e, source, version) for e in deb_ecosystems(os)]
    if package.type == "apk":
        version = package.source_version or package.version
        return [Target(e, source, version) for e in apk_ecosystems(os)]
    if package.type == "rpm":
        # The binary's epoch:version-release: source and binary RPMs share it, and the
        # source name in the rpmdb (from SOURCERPM) carries no epoch.
        return [
            Target(e, name, package.version)
            for e in rpm_ecosystems(os)
            for name in rpm_names(e, package.name, source)
        ]
    return []


def _maven_name(package: Package) -> str:
    """Maven advisories name `groupId:artifactId`; the purl has both."""
    if ":" in package.name:
        return package.name
    try:
        purl = PackageURL.from_string(package.purl)
    except ValueError:
        return package.name
    return f"{purl.namespace}:{purl.name}" if purl.namespace else package.name


@dataclass(frozen=True)
class _Hit:
    """One record matching one target, for one vulnerability id."""

    record: OsvRecord
    affected: AffectedPackage
    target: Target
    fixed: str | None
    # Ids naming the same vulnerability: the record's id and aliases, or, for a record
    # that only names upstream CVEs, the one CVE this hit stands for.
    identity: frozenset[str]
    upstream_cve: str | None = None


@dataclass
class _Group:
    hits: list[_Hit] = field(default_factory=list)
    identity: set[str] = field(default_factory=set)


def match_inventory(inventory: Inventory, db: RecordSource) -> list[Finding]:
    """Every known vulnerability of the inventory's packages, worst first."""
    cache: dict[Target, list[_Hit]] = {}
    records: dict[tuple[str, str], list[OsvRecord]] = {}
    per_package: list[tuple[Package, list[_Hit]]] = []
    for package in inventory.packages:
        hits: list[_Hit] = []
        for target in targets_for(package, inventory.os):
            if target not in cache:
                key = (target.ecosystem, target.name)
                if key not in records:
                    records[key] = db.records_for(*key)
                cache[target] = _hits(target, records[key])
            hits.extend(cache[target])
        if hits:
            per_package.append((package, hits))
    severities = _Severities(db, [hit for _, hits in per_package for hit in hits])
    findings = [
        _finding(package, group, severities)
        for package, hits in per_package
        for group in _group(hits)
    ]
    findings.sort(
        key=lambda f: (
            severity_rank(f.severity.level),
            f.package.name,
            f.package.version,
            f.package.location,
            f.id,
        )
    )
    return findings


def _hits(target: Target, records: list[OsvRecord]) -> list[_Hit]:
    hits = []
    for record in records:
        if record.withdrawn is not None:
            continue
        for affected in record.affected:
            if affected.ecosystem != target.ecosystem:
                continue
            if normalize_name(affected.ecosystem, affected.name) != target.name:
                continue
            match = evaluate(affected, target.version)
            if match is not None:
                hits.extend(_split(record, affected, target, match.fixed))
                break
    return hits


def _is_distribution(target: Target) -> bool:
    return ecosystem_base(target.ecosystem) not in _LANGUAGE_ECOSYSTEM_NAMES


def _is_cve(identifier: str) -> bool:
    return identifier.startswith("CVE-")


def _split(
    record: OsvRecord, affected: AffectedPackage, target: Target, fixed: str | None
) -> list[_Hit]:
    own = frozenset({record.id, *record.aliases})
    if any(_is_cve(i) for i in own):
        return [_Hit(record, affected, target, fixed, own)]
    # A distribution's advisory names the CVEs it fixes in `upstream` (Debian, Rocky Linux)
    # or in `related` (AlmaLinux); elsewhere `related` is another vulnerability.
    named = [*record.upstream, *(record.related if _is_distribution(target) else ())]
    upstream_cves = list(dict.fromkeys(i for i in named if _is_cve(i)))
    if not upstream_cves:
        return [_Hit(record, affected, target, fixed, own)]
    return [
        _Hit(record, affected, target, fixed, frozenset({cve}), upstream_cve=cve)
        for cve in upstream_cves
    ]


def _group(hits: list[_Hit]) -> list[_Group]:
    """Hits of one package merged while their identities share an id."""
    groups: list[_Group] = []
    for hit in hits:
        joined = [g for g in groups if g.identity & hit.identity]
        merged = _Group([hit], set(hit.identity))
        for group in joined:
            merged.hits = group.hits + merged.hits
            merged.identity |= group.identity
            groups.remove(group)
        groups.append(merged)
    return groups


class _Severities:
    """Severities of hits, with the related records they may need fetched in one query."""

    def __init__(self, db: RecordSource, hits: list[_Hit]) -> None:
        self._own: dict[tuple[str, int], Severity | None] = {}
        wanted: set[str] = set()
        for hit in hits:
            if self.own(hit) is None:
                wanted.update(self._related_ids(hit))
        self._by_id: dict[str, OsvRecord] = {}
        self._by_alias: dict[str, OsvRecord] = {}
        for record in db.records_by_ids(sorted(wanted)) if wanted else []:
            if record.withdrawn is not None:
                continue
            self._by_id[record.id] = record
            for alias in record.aliases:
                self._by_alias.setdefault(alias, record)
        self._cache: dict[tuple[str, int, str | None], Severity] = {}

    def own(self, hit: _Hit) -> Severity | None:
        key = (hit.record.id, _position(hit.record, hit.affected))
        if key not in self._own:
            self._own[key] = own_severity(hit.record, hit.affected)
        return self._own[key]

    @staticmethod
    def _related_ids(hit: _Hit) -> list[str]:
        if hit.upstream_cve is not None:
            return [hit.upstream_cve]
        return [*hit.record.aliases, *hit.record.upstream]

    def _lookup(self, identifier: str) -> OsvRecord | None:
        # By id, else a record naming it as an alias (the same vulnerability). A record
        # naming it only as upstream is a downstream advisory, not a source of severity.
        return self._by_id.get(identifier) or self._by_alias.get(identifier)

    def of(self, hit: _Hit) -> Severity:
        key = (hit.record.id, _position(hit.record, hit.affected), hit.upstream_cve)
        if key not in self._cache:
            own = self.own(hit)
            self._cache[key] = own or severity_for(
                hit.record, hit.affected, self._lookup, self._related_ids(hit)
            )
        return self._cache[key]


def _position(record: OsvRecord, affected: AffectedPackage) -> int:
    for i, candidate in enumerate(record.affected):
        if candidate is affected:
            return i
    return -1


def _informativeness(severity: Severity) -> tuple[bool, bool, bool]:
    """Sort key: known before UNKNOWN, a record's own before a related record's, scored."""
    return (
        severity.level == UNKNOWN.level,
        severity.source.endswith(("(upstream)", "(alias)")),
        severity.score is None,
    )


def _finding(package: Package, group: _Group, severities: _Severities) -> Finding:
    ranked = sorted(
        group.hits,
        key=lambda h: (
            _informativeness(severities.of(h)),
            severity_rank(severities.of(h).level),
            h.record.id,
        ),
    )
    primary = ranked[0]
    cves = sorted(i for i in group.identity if _is_cve(i))
    finding_id = cves[0] if cves else primary.record.id
    ids = set(group.identity) | {h.record.id for h in group.hits}
    fixes = [h.fixed for h in group.hits if h.fixed is not None]
    references = dict.fromkeys(url for h in ranked for url in h.record.references)
    return Finding(
        id=finding_id,
        record_id=primary.record.id,
        aliases=tuple(sorted(ids - {finding_id, primary.record.id})),
        package=package,
        installed_version=primary.target.version,
        # Records may disagree; the highest fix is the one every record agrees is fixed.
        fixed_version=highest(primary.target.ecosystem, fixes),
        severity=severities.of(primary),
        summary=_summary(ranked),
        references=tuple(references),
        ecosystem=primary.target.ecosystem,
    )


def _summary(ranked: list[_Hit]) -> str | None:
    for hit in ranked:
        if hit.record.summary and hit.record.summary.strip():
            return hit.record.summary.strip()
    for hit in ranked:
        if hit.record.details and hit.record.details.strip():
            line = hit.record.details.strip().splitlines()[0]
            return line if len(line) <= 200 else line[:199] + "…"
    return None
