"""`cargohold lifecycle`: a repository's lifecycle policy (AWS ECR's format): preview, store,
show, remove and apply it."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import RegistryOption, fail, out
from cargohold.cli.common import client as _client
from cargohold.cli.common import print_json as _print_json
from cargohold.cli.common import size as _size
from cargohold.cli.common import when as _when

lifecycle_app = typer.Typer(help="Lifecycle policies (AWS ECR's format).", no_args_is_help=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="table, json (ECR's preview shape) or csv.")
]


@lifecycle_app.command("preview")
def lifecycle_preview(
    repository: Annotated[str, typer.Argument(help="Repository name, e.g. team/app.")],
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="An ECR lifecycle policy JSON file \\[the stored policy]."),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Show what a lifecycle policy would expire in a repository; deletes nothing."""
    text = _read_policy(policy) if policy is not None else None
    try:
        preview = _client(registry).lifecycle_preview(repository, text)
    except ClientError as exc:
        raise fail(str(exc)) from None
    _print_preview(preview, output_format)


def _read_policy(policy: Path) -> bytes:
    try:
        return policy.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {policy}: {exc.strerror}") from None


@lifecycle_app.command("set")
def lifecycle_set(
    repository: Annotated[str, typer.Argument(help="Repository name.")],
    policy: Annotated[Path, typer.Option("--policy", help="An ECR lifecycle policy JSON file.")],
    output_format: FormatOption = OutputFormat.table,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Store a repository's lifecycle policy, and show what it would expire now."""
    try:
        preview = _client(registry).lifecycle_set(repository, _read_policy(policy))
    except ClientError as exc:
        raise fail(str(exc)) from None
    _print_preview(preview, output_format)


@lifecycle_app.command("get")
def lifecycle_get(
    repository: Annotated[str, typer.Argument(help="Repository name.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Print a repository's stored lifecycle policy."""
    try:
        document = _client(registry).lifecycle_get(repository)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(document["lifecyclePolicyText"])


@lifecycle_app.command("remove")
def lifecycle_remove(
    repository: Annotated[str, typer.Argument(help="Repository name.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Remove a repository's lifecycle policy."""
    try:
        _client(registry).lifecycle_remove(repository)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"removed the lifecycle policy of {repository}")


@lifecycle_app.command("apply")
def lifecycle_apply(
    repository: Annotated[str, typer.Argument(help="Repository name.")],
    output_format: FormatOption = OutputFormat.table,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Run the stored policy now: delete what it expires (each deletion is audited)."""
    try:
        preview = _client(registry).lifecycle_apply(repository)
    except ClientError as exc:
        raise fail(str(exc)) from None
    _print_preview(preview, output_format)
    if output_format is OutputFormat.table:
        print(f"deleted {preview['deleted']} manifests")
        # Images that changed (tagged, pushed again, held) after the evaluation are kept.
        for skip in preview.get("skipped", []):
            print(f"skipped {skip['imageDigest']}: {skip['reason']}")


def _print_preview(preview: dict[str, Any], output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        _print_json(preview)
    elif output_format is OutputFormat.csv:
        _print_preview_csv(preview)
    else:
        _print_preview_table(preview)


_PREVIEW_COLUMNS = ("digest", "tags", "pushed", "last_pull", "size_bytes", "action", "rule")


def _preview_rows(preview: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "digest": image["imageDigest"],
            "tags": " ".join(image["imageTags"]),
            "pushed": _when(image["imagePushedAt"]),
            "last_pull": _when(image["lastRecordedPullTime"]),
            "size_bytes": image["imageSizeInBytes"],
            "action": image["action"]
            + (f" ({image['keptReason']})" if image.get("keptReason") else ""),
            "rule": "" if image["appliedRulePriority"] is None else image["appliedRulePriority"],
        }
        for image in preview["images"]
    ]


def _print_preview_csv(preview: dict[str, Any]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=_PREVIEW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_preview_rows(preview))


def _print_preview_table(preview: dict[str, Any]) -> None:
    table = Table("digest", "tags", "pushed", "last pull", "size", "action", "rule")
    for row in _preview_rows(preview):
        table.add_row(
            row["digest"][:19],
            row["tags"] or "<untagged>",
            row["pushed"],
            row["last_pull"],
            _size(row["size_bytes"]),
            row["action"],
            str(row["rule"]),
        )
    out.print(table)
    count = preview["summary"]["expiringImageTotalCount"]
    out.print(
        f"{count} of {len(preview['images'])} images would expire, "
        f"freeing {_size(preview['bytesFreed'])}"
        + (
            f" ({preview['dependentManifestsExpiring']} index children and referrers go with them)"
            if preview["dependentManifestsExpiring"]
            else ""
        ),
        highlight=False,
    )
    for warning in preview["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
