"""`cargohold`: serve the registry, or administer one through its HTTP API."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cargohold import __version__
from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import (
    JsonOption,
    RegistryOption,
    err_console,
    fail,
    final_report,
    out,
)
from cargohold.cli.common import client as _client
from cargohold.cli.common import print_json as _print_json
from cargohold.cli.common import size as _size
from cargohold.cli.common import when as _when
from cargohold.cli.fsck_cmd import fsck
from cargohold.cli.holds_cmd import hold_app
from cargohold.cli.jobs_cmd import jobs_app
from cargohold.cli.lifecycle_cmd import lifecycle_app
from cargohold.cli.policy_cmd import policy_app
from cargohold.cli.quota_cmd import quota_app
from cargohold.cli.repos_cmd import info, repos, tags
from cargohold.cli.rm_cmd import rm
from cargohold.cli.scan_cmd import scan
from cargohold.cli.scanpolicy_cmd import allowlist_app, overdue, scan_policy_app
from cargohold.cli.serve_cmd import serve, worker
from cargohold.cli.vulndb_cmd import vulndb_app

app = typer.Typer(
    help="cargohold: a self-hosted container registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"cargohold {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """cargohold: a self-hosted container registry."""


app.command("serve")(serve)
app.command("worker")(worker)


app.command("info")(info)
app.command("repos")(repos)
app.command("tags")(tags)
app.add_typer(lifecycle_app, name="lifecycle")


app.add_typer(policy_app, name="policy")

app.add_typer(hold_app, name="hold")
app.command("rm")(rm)

app.add_typer(quota_app, name="quota")
app.add_typer(jobs_app, name="jobs")
app.add_typer(scan_policy_app, name="scan-policy")
app.add_typer(allowlist_app, name="allowlist")
app.command("overdue")(overdue)
app.add_typer(vulndb_app, name="vulndb")


@app.command()
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


@app.command()
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
    dry = report["dry_run"]
    removed = ""
    if untagged:
        removed = (
            f"{'would remove' if dry else 'removed'} {report['untagged_manifests']} untagged "
            "manifests; "
        )
    print(
        f"{removed}{'would free' if dry else 'freed'} {report['blobs']} blobs "
        f"({_size(report['bytes'])}); expired {report['uploads_expired']} upload sessions; "
        f"{report['seconds']:.1f} s"
    )
    if report["waiting_blobs"]:
        print(
            f"kept {report['waiting_blobs']} unreferenced blobs ({_size(report['waiting_bytes'])})"
            f" pushed within the grace period ({_duration(report['grace_seconds'])}); the first"
            f" becomes collectable at {_when(report['next_collectable_at'])}"
        )


def _duration(seconds: float) -> str:
    """3600 -> "1 h", 90 -> "1.5 min", 5 -> "5 s"."""
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:g} {unit}"
    return f"{seconds:g} s"


@app.command()
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


app.command("scan")(scan)
app.command("fsck")(fsck)

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COLUMNS", "120")
    app()
