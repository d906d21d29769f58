"""`cargohold fsck`: check the metadata against the stored bytes, and repair on request."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cargohold.cli.client import DEFAULT_REGISTRY
from cargohold.cli.common import (
    JsonOption,
    RegistryOption,
    err_console,
    final_report,
    print_json,
    size,
)
from cargohold.cli.common import client as _client

# Exit status when a check (without --repair) found problems: scripts tell it from errors (1).
PROBLEMS_FOUND = 2


def fsck(
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Fix what is found (without it, only report)."),
    ] = False,
    verify_content: Annotated[
        bool,
        typer.Option("--verify-content", help="Also read every blob and check its digest (slow)."),
    ] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Find blobs the metadata claims but the store lacks, and stored bytes nothing records.

    Without --repair nothing changes and the exit status is 2 when problems were found.
    """
    with err_console.status("checking", spinner="dots") as status:

        def show(event: dict[str, Any]) -> None:
            if not as_json:
                status.update(f"checked {event['checked']} {event['phase']}")

        report = final_report(_client(registry).fsck(repair, verify_content), "the check", show)
    problems = report["missing"] + report["damaged"] + report["orphans"]
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if problems and not repair:
        raise typer.Exit(PROBLEMS_FOUND)


def _print_report(report: dict[str, Any]) -> None:
    print(
        f"checked {report['checkedRows']} blob records and {report['checkedObjects']} stored "
        f"objects in {report['seconds']:.1f} s"
    )
    print(f"  records without bytes: {report['missing']} ({size(report['missingBytes'])} claimed)")
    print(f"  records whose bytes are damaged: {report['damaged']}")
    print(f"  bytes without records: {report['orphans']} ({size(report['orphanBytes'])})")
    for example in report["examples"]:
        print(f"    {example['problem']:<8} {example['digest']}  {size(example['sizeBytes'])}")
    problems = report["missing"] + report["damaged"] + report["orphans"]
    if not problems:
        print("no problems found")
    elif report["repair"]:
        print(
            f"repaired {report['repaired']}: records without good bytes no longer count as "
            "stored (the next push of those blobs writes them again); stray bytes deleted"
        )
    else:
        print("nothing changed; run `cargohold fsck --repair` to fix")
