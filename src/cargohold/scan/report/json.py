"""cargohold's JSON report: a stable shape, documented in docs/scanning.md.

```
{"schemaVersion": 1, "target": str, "dbVersion": str | null,
 "results": [{"digest", "platform", "os", "packageCount", "summary",
              "vulnerabilities": [...], "problems": [...]}]}
```
Keys are camelCase; absent values are null, never missing.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from cargohold.scan.findings import Finding, PlatformResult, ScanResult
from cargohold.scan.model import OSInfo, Problem
from cargohold.scan.report.common import count_by_severity, worst_first
from cargohold.scan.storedform import layer_to_json

SCHEMA_VERSION = 1


def write(result: ScanResult, stream: TextIO) -> None:
    json.dump(document(result), stream, indent=2)
    stream.write("\n")


def document(result: ScanResult) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "target": result.target,
        "dbVersion": result.db_version,
        "results": [_platform(p) for p in result.platforms],
    }


def _platform(platform: PlatformResult) -> dict[str, Any]:
    inventory = platform.inventory
    return {
        "digest": inventory.digest,
        "platform": str(inventory.platform) if inventory.platform is not None else None,
        "os": _os(inventory.os),
        "packageCount": len(inventory.packages),
        "summary": count_by_severity(platform.findings),
        "vulnerabilities": [_finding(f) for f in worst_first(platform.findings)],
        "problems": [_problem(p) for p in inventory.problems],
    }


def _os(os: OSInfo | None) -> dict[str, Any] | None:
    if os is None:
        return None
    return {"family": os.id, "version": os.version_id, "name": os.pretty_name or os.name}


def _finding(finding: Finding) -> dict[str, Any]:
    package = finding.package
    return {
        "id": finding.id,
        "recordId": finding.record_id,
        "aliases": list(finding.aliases),
        "pkgName": package.name,
        "pkgType": package.type,
        "pkgVersion": package.version,
        "srcName": package.source_name,
        "srcVersion": package.source_version,
        "purl": package.purl,
        "installedVersion": finding.installed_version,
        "fixedVersion": finding.fixed_version,
        "severity": finding.severity.level,
        "severitySource": finding.severity.source or None,
        "score": finding.severity.score,
        "title": finding.summary,
        "references": list(finding.references),
        "ecosystem": finding.ecosystem or None,
        "location": package.location,
        "layer": layer_to_json(package.layer),
    }


def _problem(problem: Problem) -> dict[str, Any]:
    return {
        "code": problem.code,
        "message": problem.message,
        "location": problem.location,
        "layer": None if problem.layer is None else layer_to_json(problem.layer),
        "blocking": problem.blocking,
    }
