"""`cargohold audit`: who changed what and when, newest first."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import JsonOption, RegistryOption, fail, out
from cargohold.cli.common import client as _client
from cargohold.cli.common import print_json as _print_json
from cargohold.cli.common import when as _when


def audit(
    limit: Annotated[int, typer.Option("--limit", help="How many events, newest first.")] = 50,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Show who changed what and when (admin changes, deletes through any client)."""
    try:
        events = _client(registry).audit(limit)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_json(events)
        return
    table = Table("when", "actor", "action", "target", "detail")
    for event in events:
        table.add_row(
            _when(event["at"]),
            event["actor"],
            event["action"],
            event["target"],
            json.dumps(event["detail"], sort_keys=True),
        )
    out.print(table)
