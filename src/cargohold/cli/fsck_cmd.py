"""`cargohold fsck`: check the metadata against the stored bytes, and repair on request."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import JsonOption, RegistryOption, err_console, fail, print_json, size
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
    report: dict[str, Any] | None = None
    try:
        with err_console.status("checking", spinner="dots") as status:
            for event in _client(registry).fsck(repair, verify_content):
                if event["event"] == "progress" and not as_json:
                    status.update(f"checked {event['checked']} {event['phase']}")
                elif event["event"] == "error":
                    raise fail(f"{event['code']}: {event['message']}")
                elif event["event"] == "done":
                    report = event["report"]
    except ClientError as exc:
        raise fail(str(exc)) from None
    if report is None:
        raise fail("the server ended the check without a report")
    problems = report["missing"] + report["damaged"] + report["orphans"]
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if problems and not repair:
        raise typer.Exit(PROBLEMS_FOUND)


def _print_report(report: dict[str, Any]) -> None:
    print(
        f"checked {report['checked_rows']} blob records and {report['checked_objects']} stored "
        f"objects in {report['seconds']:.1f} s"
    )
    print(f"  records without bytes: {report['missing']} ({size(report['missing_bytes'])} claimed)")
    print(f"  records whose bytes are damaged: {report['damaged']}")
    print(f"  bytes without records: {report['orphans']} ({size(report['orphan_bytes'])})")
    for example in report["examples"]:
        print(f"    {example['problem']:<8} {example['digest']}  {size(example['size'])}")
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
