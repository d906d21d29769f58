"""`cargohold lint [DOCKERFILE...]`: check Dockerfiles against the build-hygiene rules.

Runs without a server. The gate works like `cargohold scan`'s: `--severity` filters what is
shown and counted, `--exit-code N` is the exit status when any finding survives. Errors (an
unreadable Dockerfile or config) are one line on stderr and exit 1; bad usage exits 2."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cargohold.cli.common import ExitCodeOption, OutputOption, fail

# The linter (dockerfile-parse, the rules, YAML for the config) is imported in the command:
# every `cargohold` command builds this module's signature.
if TYPE_CHECKING:
    from cargohold.lint.config import LintConfig
    from cargohold.lint.engine import LintResult

SEVERITY_NAMES = ("ERROR", "WARNING", "INFO")


class LintFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


def _severities(value: str) -> str:
    names = {s.strip().upper() for s in value.split(",") if s.strip()}
    unknown = sorted(names - set(SEVERITY_NAMES))
    if unknown or not names:
        raise typer.BadParameter(
            f"{', '.join(unknown) or 'nothing'}: give severities from {','.join(SEVERITY_NAMES)}"
        )
    return value


def lint(
    dockerfiles: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[DOCKERFILE]...",
            help="Dockerfiles to check ('-' reads one from stdin) \\[./Dockerfile].",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        LintFormat, typer.Option("--format", "-f", help="Report format.")
    ] = LintFormat.text,
    output: OutputOption = None,
    severity: Annotated[
        str,
        typer.Option(
            "--severity",
            "-s",
            callback=_severities,
            help="Comma-separated severities to show and count.",
        ),
    ] = ",".join(SEVERITY_NAMES),
    exit_code: ExitCodeOption = 0,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Lint config (YAML: ignore, exceptions, approved_bases, require_digest) "
            "\\[./.cargohold-lint.yaml if present].",
            show_default=False,
        ),
    ] = None,
    context: Annotated[
        Path | None,
        typer.Option(
            "--context",
            help="Build context directory, for the .dockerignore check \\[the Dockerfile's "
            "directory].",
            show_default=False,
        ),
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="Print the rules and exit.")
    ] = False,
) -> None:
    """Check Dockerfiles: multi-stage builds, non-root users, pinned and approved base
    images, dependency installs, layer hygiene, secrets and runtime settings."""
    if list_rules:
        _print_rules()
        raise typer.Exit()
    wanted = {s.strip().upper() for s in severity.split(",") if s.strip()}
    settings = _config(config)
    results = [_lint_one(path, settings, context) for path in dockerfiles or [Path("Dockerfile")]]
    for result in results:
        result.findings = [f for f in result.findings if f.severity.value in wanted]
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    _write(results, output_format, output)
    found = any(result.findings for result in results)
    raise typer.Exit(code=exit_code if found else 0)


def _config(path: Path | None) -> LintConfig:
    from cargohold.lint.config import DEFAULT_CONFIG, ConfigError, LintConfig, load_config

    if path is None:
        if not DEFAULT_CONFIG.is_file():
            return LintConfig()
        path = DEFAULT_CONFIG
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _lint_one(path: Path, settings: LintConfig, context: Path | None) -> LintResult:
    from cargohold.lint.engine import LintError, lint_file, lint_text

    if context is not None and not context.is_dir():
        raise fail(f"build context {context} is not a directory")
    try:
        if str(path) == "-":
            return lint_text(sys.stdin.read(), "Dockerfile", settings, context)
        if path.is_dir():
            path = path / "Dockerfile"
        return lint_file(path, settings, context)
    except LintError as exc:
        raise fail(str(exc)) from None


def _write(results: list[LintResult], output_format: LintFormat, output: Path | None) -> None:
    from cargohold.lint.report import WRITERS

    writer = WRITERS[output_format.value]
    if output is None:
        writer(results, sys.stdout)
        sys.stdout.flush()
        return
    buffer = io.StringIO()
    writer(results, buffer)
    try:
        output.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None


def _print_rules() -> None:
    from cargohold.lint.catalog import RULES

    for rule in RULES:
        print(f"{rule.id}  {rule.severity.value:<7}  {rule.name}: {rule.summary}")
