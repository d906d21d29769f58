"""`cargohold storage` and `cargohold gc`: where the bytes go, and freeing what nothing uses."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import JsonOption, RegistryOption, err_console, fail, final_report, out
from cargohold.cli.common import client as _client
from cargohold.cli.common import print_json as _print_json
from cargohold.cli.common import size as _size
from cargohold.cli.common import when as _when


def storage(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """Report storage: logical, unique and shared bytes per project and repository."""
    try:
        report = _client(registry).storage()
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_json(report)
        return
    projects = Table("project", "repositories", "logical", "unique", "shared w/ other projects")
    for row in report["projects"]:
        projects.add_row(
            row["project"],
            str(row["repositories"]),
            _size(row["logicalBytes"]),
            _size(row["uniqueBytes"]),
            _size(row["sharedWithOtherProjectsBytes"]),
        )
    out.print(projects)
    repositories = Table("repository", "manifests", "logical", "unique")
    for row in report["repositories"]:
        repositories.add_row(
            row["repository"],
            str(row["manifests"]),
            _size(row["logicalBytes"]),
            _size(row["uniqueBytes"]),
        )
    out.print(repositories)
    ratio = report["deduplicationRatio"]
    print(
        f"stored: {report['storedBlobs']} blobs, {_size(report['storedBytes'])}; logical "
        f"{_size(report['logicalBytes'])}; deduplication {ratio if ratio else '-'}x; "
        f"reclaimable by gc: {_size(report['reclaimableBytes'])}"
    )


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be freed; delete nothing.")
    ] = False,
    untagged: Annotated[
        bool,
        typer.Option(
            "--untagged", help="Also remove untagged manifests that no tagged manifest needs."
        ),
    ] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Garbage-collect unreferenced blobs while the registry keeps serving."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        disable=as_json,
    )
    with progress:
        task = progress.add_task("blobs", total=None)

        def show(event: dict[str, Any]) -> None:
            if event["event"] == "start":
                progress.update(task, total=event["candidates"])
            elif event["event"] == "progress":
                progress.update(task, completed=event["blobs"])

        report = final_report(_client(registry).gc(dry_run, untagged), "garbage collection", show)
    if as_json:
        _print_json(report)
        return
    dry = report["dryRun"]
    removed = ""
    if untagged:
        removed = (
            f"{'would remove' if dry else 'removed'} {report['untaggedManifests']} untagged "
            "manifests; "
        )
    print(
        f"{removed}{'would free' if dry else 'freed'} {report['blobs']} blobs "
        f"({_size(report['bytes'])}); expired {report['uploadsExpired']} upload sessions; "
        f"{report['seconds']:.1f} s"
    )
    if report["admissionsPurged"]:
        print(
            f"deleted {report['admissionsPurged']} admission records older than "
            "admission_history_days"
        )
    if report["scanReportsPurged"] or report["analysesPurged"]:
        print(
            f"deleted {report['scanReportsPurged']} scan reports and "
            f"{report['analysesPurged']} analyses of images no repository stores"
        )
    if report["waitingBlobs"]:
        print(
            f"kept {report['waitingBlobs']} unreferenced blobs ({_size(report['waitingBytes'])})"
            f" pushed within the grace period ({_duration(report['graceSeconds'])}); the first"
            f" becomes collectable at {_when(report['nextCollectableAt'])}"
        )


def _duration(seconds: float) -> str:
    """3600 -> "1 h", 90 -> "1.5 min", 5 -> "5 s"."""
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:g} {unit}"
    return f"{seconds:g} s"
