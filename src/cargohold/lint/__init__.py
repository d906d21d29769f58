"""The Dockerfile linter behind `cargohold lint`: parse a Dockerfile into stages, run the rules,
drop what the inline comments and the config file excuse, and report.

`lint_file` and `lint_text` are the entry points; `rules.RULES` lists every rule with its
stable ID, severity and fix advice; `report` writes text, JSON and SARIF 2.1.0."""

from __future__ import annotations

from cargohold.lint.engine import LintError, LintResult, lint_file, lint_text
from cargohold.lint.model import Finding, Rule, Severity

__all__ = ["Finding", "LintError", "LintResult", "Rule", "Severity", "lint_file", "lint_text"]
