"""What every `cargohold` command module shares: options, output and one-line errors."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console

from cargohold.cli.client import DEFAULT_REGISTRY, AdminClient

out = Console()
err_console = Console(stderr=True)

RegistryOption = Annotated[
    str,
    typer.Option(
        "--registry",
        envvar="CARGOHOLD_REGISTRY",
        help="URL of the cargohold server.",
        show_default=True,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=1)


def client(registry: str) -> AdminClient:
    return AdminClient(registry or DEFAULT_REGISTRY)


def when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))
