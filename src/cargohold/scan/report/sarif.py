"""SARIF 2.1.0 as GitHub code scanning accepts it.

One rule per vulnerability ID (with `security-severity` so GitHub ranks alerts), one result
per finding located at the file in the image the package was read from (e.g.
`var/lib/dpkg/status`), line 1. Blocking inventory problems are results too (level error),
so a report for an image that could not be checked is never clean; every problem is also a
tool execution notification.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from cargohold import __version__
from cargohold.scan.findings import Finding, ScanResult, severity_rank
from cargohold.scan.model import Problem
from cargohold.scan.report.common import (
    advisory_url,
    is_os_package,
    platform_label,
    severity_score,
    worst_first,
)

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note"}


def level(severity: str) -> str:
    """SARIF result level: error for CRITICAL/HIGH, warning for MEDIUM, note for LOW/UNKNOWN."""
    return LEVELS.get(severity, "note")


def write(result: ScanResult, stream: TextIO) -> None:
    json.dump(document(result), stream, indent=2)
    stream.write("\n")


def document(result: ScanResult) -> dict[str, Any]:
    several = len(result.platforms) > 1
    findings = [
        (platform_label(p.inventory) if several else "", f)
        for p in result.platforms
        for f in worst_first(p.findings)
    ]
    problems = [p for platform in result.platforms for p in platform.inventory.problems]
    rules, index = _rules([f for _, f in findings], [p for p in problems if p.blocking])
    results = [_result(f, label, result.target, index) for label, f in findings]
    results += [_problem_result(p, result.target, index) for p in problems if p.blocking]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "cargohold",
                "fullName": "cargohold vulnerability scanner",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "results": results,
        "columnKind": "utf16CodeUnits",
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [_notification(p) for p in problems],
            }
        ],
        "properties": {"imageName": result.target, "dbVersion": result.db_version},
    }
    return {"version": SARIF_VERSION, "$schema": SARIF_SCHEMA, "runs": [run]}


def _rules(
    findings: list[Finding], blocking: list[Problem]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    by_id: dict[str, list[Finding]] = {}
    for finding in findings:
        by_id.setdefault(finding.id, []).append(finding)
    rules = [_rule(rule_id, group) for rule_id, group in by_id.items()]
    for code in dict.fromkeys(p.code for p in blocking):
        message = next(p.message for p in blocking if p.code == code)
        rules.append(
            {
                "id": code,
                "name": "InventoryProblem",
                "shortDescription": {"text": "OS packages were not inventoried"},
                "fullDescription": {"text": message},
                "defaultConfiguration": {"level": "error"},
                "help": {
                    "text": "The image's OS package database could not be read, so its OS "
                    "packages were not checked for vulnerabilities.",
                },
                "properties": {"tags": ["security", "inventory"]},
            }
        )
    return rules, {rule["id"]: i for i, rule in enumerate(rules)}


def _rule(rule_id: str, group: list[Finding]) -> dict[str, Any]:
    worst = min(group, key=lambda f: (severity_rank(f.severity.level), -severity_score(f)))
    score = max(severity_score(f) for f in group)
    title = worst.summary or rule_id
    url = advisory_url(worst)
    ids = ", ".join(sorted(set().union(*(f.ids for f in group)) - {rule_id}))
    help_text = f"Vulnerability {rule_id}\nSeverity: {worst.severity.level}\n{title}\n{url}"
    help_markdown = (
        f"**Vulnerability {rule_id}**\n\n| Severity | Also known as |\n| --- | --- |\n"
        f"| {worst.severity.level} | {ids or '-'} |\n\n{title}\n\n[{url}]({url})"
    )
    kind = (
        "OsPackageVulnerability"
        if is_os_package(worst.package)
        else "LanguageSpecificPackageVulnerability"
    )
    return {
        "id": rule_id,
        "name": kind,
        "shortDescription": {"text": title},
        "fullDescription": {"text": title},
        "defaultConfiguration": {"level": level(worst.severity.level)},
        "helpUri": url,
        "help": {"text": help_text, "markdown": help_markdown},
        "properties": {
            "precision": "very-high",
            "security-severity": f"{score:.1f}",
            "tags": ["vulnerability", "security", worst.severity.level],
        },
    }


def _location(uri: str, text: str) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1},
        },
        "message": {"text": text},
    }


def _result(finding: Finding, platform: str, target: str, index: dict[str, int]) -> dict[str, Any]:
    package = finding.package
    lines = [
        f"Package: {package.name}",
        f"Installed Version: {finding.installed_version}",
        f"Vulnerability: {finding.id}"
        + (f" ({finding.record_id})" if finding.record_id != finding.id else ""),
        f"Severity: {finding.severity.level}",
        f"Fixed Version: {finding.fixed_version or 'none'}",
        f"Image: {target}" + (f" ({platform})" if platform else ""),
        f"Layer: {package.layer.digest}",
        f"Link: [{finding.id}]({advisory_url(finding)})",
    ]
    return {
        "ruleId": finding.id,
        "ruleIndex": index[finding.id],
        "level": level(finding.severity.level),
        "message": {"text": "\n".join(lines)},
        "locations": [_location(package.location, f"{target}: {package.name}@{package.version}")],
    }


def _problem_result(problem: Problem, target: str, index: dict[str, int]) -> dict[str, Any]:
    return {
        "ruleId": problem.code,
        "ruleIndex": index[problem.code],
        "level": "error",
        "message": {"text": f"{problem.message}\nImage: {target}"},
        "locations": [_location(problem.location or "image", target)],
    }


def _notification(problem: Problem) -> dict[str, Any]:
    notification: dict[str, Any] = {
        "level": "error" if problem.blocking else "warning",
        "message": {"text": problem.message},
        "descriptor": {"id": problem.code},
    }
    if problem.location:
        notification["locations"] = [_location(problem.location, problem.message)]
    return notification
