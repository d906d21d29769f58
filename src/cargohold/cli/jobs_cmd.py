"""`cargohold jobs`: what the background queue ran, and running a job now."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import (
    JsonOption,
    RegistryOption,
    client,
    fail,
    out,
    print_json,
    seconds,
    size,
    when,
)

jobs_app = typer.Typer(
    help="Background jobs: gc, lifecycle, audit-purge, scan and vulnerability database runs,"
    " scheduled or on demand."
)

FINISHED = ("succeeded", "failed")


def _duration(job: dict[str, Any]) -> str:
    if job["startedAt"] is None or job["finishedAt"] is None:
        return "-"
    return f"{seconds(job['finishedAt']) - seconds(job['startedAt']):.2f}s"


def _summary(job: dict[str, Any]) -> str:
    if job["error"]:
        return str(job["error"])
    result = job["result"] or {}
    if job["kind"] == "gc" and result:
        return f"{result['blobs']} blobs, {size(result['bytes'])} freed"
    if job["kind"] == "lifecycle" and result:
        repositories = result["repositories"]
        deleted = sum(r.get("deleted", 0) for r in repositories.values())
        freed = sum(r.get("bytesFreed", 0) for r in repositories.values())
        failures = f", {result['failures']} failed" if result.get("failures") else ""
        return (
            f"{len(repositories)} repositories, {deleted} images deleted, "
            f"{size(freed)} freed{failures}"
        )
    if job["kind"] == "audit-purge" and result:
        if result["before"] is None:
            return "retention off: nothing removed"
        return f"{result['removed']} audit entries before {when(result['before'])} removed"
    return ""


@jobs_app.command("list")
def list_jobs(
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only jobs in this state (queued, running, ...).")
    ] = None,
    limit: Annotated[int, typer.Option("-n", help="How many, newest first.")] = 20,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Recent job runs, newest first."""
    try:
        jobs = client(registry).jobs(limit, kind, state)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(jobs)
        return
    table = Table("id", "kind", "state", "trigger", "created", "took", "outcome")
    for job in jobs:
        table.add_row(
            job["id"][:12],
            job["kind"],
            job["state"],
            job["trigger"],
            when(job["createdAt"]),
            _duration(job),
            _summary(job),
        )
    out.print(table)


@jobs_app.command("show")
def show_job(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """One job run, as JSON: arguments, state, timings, result or error."""
    try:
        print_json(client(registry).job(job_id))
    except ClientError as exc:
        raise fail(str(exc)) from None


@jobs_app.command("run")
def run_job(
    kind: Annotated[
        str, typer.Argument(help="gc, lifecycle, audit-purge, scan, vulndb-update or reevaluate.")
    ],
    repository: Annotated[
        str | None,
        typer.Option(help="lifecycle: only this repository (default: all); scan: the repository."),
    ] = None,
    digest: Annotated[
        str | None, typer.Option(help="scan: the manifest's digest (sha256:...).")
    ] = None,
    rescan: Annotated[
        bool, typer.Option("--rescan", help="scan: scan again even if scanned already.")
    ] = False,
    untagged: Annotated[
        bool, typer.Option("--untagged", help="gc: also remove untagged manifests.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="gc: report what would be removed, remove nothing.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the job to finish; exit 1 if it fails.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this long.")] = 3600,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Queue a job now (the same job the schedule runs). The server checks the arguments."""
    args: dict[str, Any] = {}
    if repository is not None:
        args["repository"] = repository
    if digest is not None:
        args["digest"] = digest
    if rescan:
        args["rescan"] = True
    if untagged:
        args["untagged"] = True
    if dry_run:
        args["dryRun"] = True
    api = client(registry)
    try:
        job = api.submit_job(kind, args)
        print(f"queued {job['kind']} job {job['id']}")
        if not wait:
            return
        job = api.wait_for_job(job, timeout)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if job["state"] not in FINISHED:
        raise fail(f"job {job['id']} still {job['state']} after {timeout:g}s")
    print(f"{job['state']}: {_summary(job)} ({_duration(job)})")
    if job["state"] == "failed":
        raise typer.Exit(code=1)
