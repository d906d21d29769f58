"""`cargohold quota`: per-project storage quotas (show, set, remove)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import JsonOption, RegistryOption, fail
from cargohold.cli.common import client as _client
from cargohold.cli.common import print_json as _print_json
from cargohold.cli.common import size as _size

quota_app = typer.Typer(help="Per-project storage quotas.", no_args_is_help=True)

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def _parse_size(text: str) -> int:
    """`10GiB`, `500MB`, `1.5TiB` or plain bytes."""
    number = text.strip().rstrip("bBiI").rstrip("kKmMgGtT")
    unit = text.strip()[len(number) :].lower()
    try:
        value = float(number)
    except ValueError:
        raise fail(f"cannot read the size {text!r}: use e.g. 500MiB, 10GiB or 1000000") from None
    if unit not in _UNITS or value < 0:
        raise fail(f"cannot read the size {text!r}: use e.g. 500MiB, 10GiB or 1000000")
    return int(value * _UNITS[unit])


def _print_quota(quota: dict[str, Any]) -> None:
    limit = "none" if quota["limitBytes"] is None else _size(quota["limitBytes"])
    print(f"{quota['project']}: {_size(quota['usageBytes'])} used, limit {limit}")


@quota_app.command("show")
def quota_show(
    project: Annotated[str, typer.Argument(help="Project (first path component).")],
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Show a project's usage and quota."""
    try:
        quota = _client(registry).quota(project)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_json(quota)
    else:
        _print_quota(quota)


@quota_app.command("set")
def quota_set(
    project: Annotated[str, typer.Argument(help="Project (first path component).")],
    limit: Annotated[str, typer.Option("--limit", help="e.g. 500MiB, 10GiB, or bytes.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Set a project's storage quota; pushes past it are refused."""
    try:
        _print_quota(_client(registry).set_quota(project, _parse_size(limit)))
    except ClientError as exc:
        raise fail(str(exc)) from None


@quota_app.command("remove")
def quota_remove(
    project: Annotated[str, typer.Argument(help="Project (first path component).")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Remove a project's storage quota."""
    try:
        _client(registry).remove_quota(project)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"removed the quota of {project}")
