"""`cargohold audit`: who did what, when, from where, and how it went; newest first."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import JsonOption, RegistryOption, fail, out
from cargohold.cli.common import client as _client
from cargohold.cli.common import print_json as _print_json
from cargohold.cli.common import when as _when

# Entries a table (or --json) shows when --limit is not given.
DEFAULT_SHOWN = 50


def _filter(help_text: str) -> Any:
    return typer.Option(help=help_text, show_default=False)


def audit(
    actor: Annotated[str | None, _filter("Only this user, robot or system actor.")] = None,
    action: Annotated[str | None, _filter("Only this action, e.g. manifest.push.")] = None,
    project: Annotated[str | None, _filter("Only this project.")] = None,
    repository: Annotated[str | None, _filter("Only this repository.")] = None,
    result: Annotated[str | None, _filter("Only this result: ok, denied or failed.")] = None,
    since: Annotated[
        str | None,
        _filter("From this time on: RFC 3339, a date (UTC) or UNIX seconds."),
    ] = None,
    until: Annotated[str | None, _filter("Before this time (same forms as --since).")] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help=f"How many entries, newest first (default {DEFAULT_SHOWN}; with --jsonl, all).",
            show_default=False,
        ),
    ] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Export as JSON lines, one entry per line.")
    ] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Show the audit log: pushes, pulls, deletes, tag moves, logins, refusals and every
    administrative change. Pages are fetched as needed."""
    filters = {
        name: value
        for name, value in (
            ("actor", actor),
            ("action", action),
            ("project", project),
            ("repository", repository),
            ("result", result),
            ("since", since),
            ("until", until),
        )
        if value
    }
    api = _client(registry)
    try:
        if jsonl:
            for line in api.audit_lines(filters, limit):
                sys.stdout.write(line + "\n")
            return
        events = list(api.audit(filters, limit or DEFAULT_SHOWN))
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_json(events)
        return
    table = Table("when", "actor", "method", "from", "action", "result", "target", "detail")
    for event in events:
        table.add_row(
            _when(event["at"]),
            event["actor"],
            event["method"] or "",
            event["address"] or "",
            event["action"],
            event["result"],
            event["target"],
            json.dumps(event["detail"], sort_keys=True),
        )
    out.print(table)
