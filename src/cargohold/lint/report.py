"""Lint reports: text for people, JSON, and SARIF 2.1.0 for GitHub code scanning.

Every writer takes the results of one run (one per Dockerfile), already filtered."""

from __future__ import annotations

import json
from typing import Any, TextIO

from cargohold import __version__
from cargohold.lint.catalog import RULES
from cargohold.lint.engine import LintResult
from cargohold.lint.model import Finding, Rule, Severity

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# GitHub ranks alerts tagged "security" by this score (7.0+ high, 4.0+ medium).
SECURITY_SEVERITY = {Severity.ERROR: "8.0", Severity.WARNING: "5.0", Severity.INFO: "2.0"}


def write_text(results: list[LintResult], stream: TextIO) -> None:
    total = 0
    for result in results:
        for finding in result.findings:
            total += 1
            stream.write(
                f"{result.path}:{finding.line} {finding.rule.id} {finding.severity.lower()}: "
                f"{finding.message} [{finding.rule.name}]\n"
                f"    fix: {finding.rule.fix}\n"
            )
    files = len(results)
    stream.write(f"{total} finding(s) in {files} Dockerfile(s)\n")


def write_json(results: list[LintResult], stream: TextIO) -> None:
    document = {
        "version": 1,
        "tool": {"name": "cargohold", "version": __version__},
        "files": [
            {"path": result.path, "findings": [_finding(f) for f in result.findings]}
            for result in results
        ],
    }
    json.dump(document, stream, indent=2)
    stream.write("\n")


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule.id,
        "name": finding.rule.name,
        "severity": finding.severity.value,
        "line": finding.line,
        "endLine": finding.end_line or finding.line,
        "message": finding.message,
        "fix": finding.rule.fix,
    }


def write_sarif(results: list[LintResult], stream: TextIO) -> None:
    json.dump(sarif_document(results), stream, indent=2)
    stream.write("\n")


def sarif_document(results: list[LintResult]) -> dict[str, Any]:
    """One run; every rule is listed (so `ruleIndex` is stable), one result per finding."""
    index = {rule.id: i for i, rule in enumerate(RULES)}
    run = {
        "tool": {
            "driver": {
                "name": "cargohold",
                "fullName": "cargohold Dockerfile linter",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule(rule) for rule in RULES],
            }
        },
        "results": [
            _result(finding, result.path, index[finding.rule.id])
            for result in results
            for finding in result.findings
        ],
        "columnKind": "utf16CodeUnits",
    }
    return {"version": SARIF_VERSION, "$schema": SARIF_SCHEMA, "runs": [run]}


def _rule(rule: Rule) -> dict[str, Any]:
    properties: dict[str, Any] = {"tags": ["dockerfile", *rule.tags], "precision": "high"}
    if "security" in rule.tags:
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": f"{rule.summary}. {rule.fix}"},
        "defaultConfiguration": {"level": SARIF_LEVELS[rule.severity]},
        "help": {
            "text": f"{rule.summary}.\nFix: {rule.fix}",
            "markdown": f"**{rule.id} {rule.name}**\n\n{rule.summary}.\n\n**Fix:** {rule.fix}",
        },
        "properties": properties,
    }


def _result(finding: Finding, path: str, rule_index: int) -> dict[str, Any]:
    return {
        "ruleId": finding.rule.id,
        "ruleIndex": rule_index,
        "level": SARIF_LEVELS[finding.severity],
        "message": {"text": f"{finding.message}. Fix: {finding.rule.fix}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(path), "uriBaseId": "%SRCROOT%"},
                    "region": {
                        "startLine": finding.line,
                        "endLine": finding.end_line or finding.line,
                    },
                }
            }
        ],
    }


def _uri(path: str) -> str:
    """A relative URI, as GitHub code scanning matches it against the repository."""
    from urllib.parse import quote

    return quote(path.replace("\\", "/").removeprefix("./"))


WRITERS = {"text": write_text, "json": write_json, "sarif": write_sarif}
