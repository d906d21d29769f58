"""The human report: per platform an OS line, a findings table worst first, a total line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cargohold.scan.findings import SEVERITIES, Finding, PlatformResult, ScanResult
from cargohold.scan.report.common import (
    advisory_url,
    count_by_severity,
    os_label,
    platform_label,
    worst_first,
)

STYLES = {
    "CRITICAL": "bold red",
    "HIGH": "red",
    "MEDIUM": "yellow",
    "LOW": "blue",
    "UNKNOWN": "dim",
}
# Wide enough for a CI log when the stream is not a terminal (a terminal uses its own width).
FILE_WIDTH = 160


def write(result: ScanResult, stream: TextIO, severities: Iterable[str] = SEVERITIES) -> None:
    """`severities` are the levels the scan was filtered to: the total line counts those."""
    selected = set(severities)
    shown = [level for level in SEVERITIES if level in selected]
    console = Console(
        file=stream,
        width=None if is_terminal(stream) else FILE_WIDTH,
        highlight=False,
        soft_wrap=False,
    )
    if result.db_version is not None:
        console.print(Text(f"vulnerability database: {result.db_version}", style="dim"))
    for platform in result.platforms:
        _platform(console, result.target, platform, shown)


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _platform(console: Console, target: str, platform: PlatformResult, shown: list[str]) -> None:
    inventory = platform.inventory
    console.print()
    console.print(Text(f"{target} ({platform_label(inventory)})", style="bold"))
    console.print(f"OS: {os_label(inventory.os)}; {len(inventory.packages)} packages")
    counts = count_by_severity(platform.findings)
    total = sum(counts[level] for level in shown)
    details = ", ".join(f"{level}: {counts[level]}" for level in shown)
    console.print(f"Total: {total} ({details})")
    if platform.findings:
        console.print(_table(platform.findings))
    for problem in inventory.problems:
        where = f" ({problem.location})" if problem.location else ""
        if problem.layer is not None:
            where += f" (layer {problem.layer.index}, {problem.layer.digest})"
        console.print(
            Text(f"WARNING: {problem.code}: {problem.message}{where}", style="bold yellow")
        )
        if problem.blocking:
            console.print(
                Text(
                    "WARNING: these packages were not checked for vulnerabilities; "
                    "--exit-code gates fail on this image",
                    style="bold yellow",
                )
            )


def _table(findings: list[Finding]) -> Table:
    table = Table(show_lines=False)
    for column in ("Library", "Vulnerability", "Severity", "Installed", "Fixed", "Title"):
        table.add_column(column, overflow="fold")
    for finding in worst_first(findings):
        level = finding.severity.level
        vulnerability = Text(finding.id)
        if finding.record_id != finding.id:
            vulnerability.append(f"\n{finding.record_id}", style="dim")
        table.add_row(
            finding.package.name,
            vulnerability,
            Text(level, style=STYLES.get(level, "")),
            finding.installed_version,
            finding.fixed_version or "",
            finding.summary or advisory_url(finding),
        )
    return table
