"""Run every rule over a Dockerfile and keep what no ignore comment or config excuses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path

from cargohold.lint import file_checks, package_checks, run_checks, stage_checks
from cargohold.lint.catalog import BY_ID
from cargohold.lint.config import LintConfig
from cargohold.lint.model import Finding, LintOptions
from cargohold.lint.parse import Dockerfile, DockerfileError, parse, read

Check = Callable[[Dockerfile, LintOptions], Iterable[Finding]]
CHECKS: tuple[Check, ...] = (
    *stage_checks.CHECKS,
    *package_checks.CHECKS,
    *file_checks.CHECKS,
    *run_checks.CHECKS,
)
LintError = DockerfileError


@dataclasses.dataclass
class LintResult:
    """The findings for one Dockerfile, by line, and warnings about the lint itself (an ignore
    comment naming a rule that does not exist)."""

    path: str
    findings: list[Finding]
    warnings: list[str] = dataclasses.field(default_factory=list)


def lint_text(
    text: str,
    path: str = "Dockerfile",
    config: LintConfig | None = None,
    context: Path | None = None,
) -> LintResult:
    """Lint a Dockerfile's text; `context` is its build context (None: unknown, so the
    context rules are skipped)."""
    dockerfile = parse(text, path)
    dockerfile.context = context
    return lint(dockerfile, config or LintConfig())


def lint_file(
    path: Path, config: LintConfig | None = None, context: Path | None = None
) -> LintResult:
    """Lint the Dockerfile at `path`; its build context is `context`, else its directory."""
    dockerfile = read(path)
    if context is not None:
        dockerfile.context = context
    return lint(dockerfile, config or LintConfig())


def lint(dockerfile: Dockerfile, config: LintConfig) -> LintResult:
    ignored: dict[int, frozenset[str]] = {}
    for stage in dockerfile.stages:
        for instruction in [stage.from_instruction, *stage.instructions]:
            ignored[instruction.line] = instruction.ignored
    for instruction in dockerfile.global_args:
        ignored[instruction.line] = instruction.ignored
    warnings = [
        f"{dockerfile.path}:{line}: cargohold-ignore names unknown rule {rule}"
        for line, rules in sorted(ignored.items())
        for rule in sorted(rules)
        if rule not in BY_ID
    ]
    findings: list[Finding] = []
    for check in CHECKS:
        for finding in check(dockerfile, config.options):
            if finding.rule.id in ignored.get(finding.line, ()):
                continue
            if config.excuses(finding, dockerfile.path):
                continue
            findings.append(dataclasses.replace(finding, path=dockerfile.path))
    findings.sort(key=lambda f: (f.line, f.rule.id))
    return LintResult(dockerfile.path, _unique(findings), warnings)


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int, str]] = set()
    kept = []
    for finding in findings:
        key = (finding.rule.id, finding.line, finding.message)
        if key not in seen:
            seen.add(key)
            kept.append(finding)
    return kept
