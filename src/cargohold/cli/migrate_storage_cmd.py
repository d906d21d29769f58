"""`cargohold migrate-storage`: copy a single node's blobs from its data directory into the
S3 store its s3_* settings describe, verified by digest, resumable, while the server serves.

It runs on the server's own stores, like `cargohold admin` (no server needed, none stopped):
the source is the filesystem driver's directory under data_dir, the destination the S3
driver the s3_* settings build, whatever storage_driver says, so the same command runs
before the switch and again after it to catch up.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cargohold.cli.common import ConfigOption, DataDirOption, err_console, fail, size
from cargohold.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from cargohold.services.blob_migration import BlobMigration, BlobMigrationReport, Outcome
    from cargohold.storage.base import BlobDriver
    from cargohold.storage.s3 import S3BlobStore

# Without a terminal (a script, a Kubernetes Job), a progress line this often instead of a bar.
PLAIN_PROGRESS_SECONDS = 10.0
MAX_JOBS = 32  # the S3 client's connection pool


def migrate_storage(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    jobs: Annotated[
        int,
        typer.Option("--jobs", min=1, max=MAX_JOBS, help="Objects copied at once."),
    ] = 4,
    verify_existing: Annotated[
        bool,
        typer.Option(
            "--verify-existing",
            help="Read back every object the destination already holds and check its digest "
            "before skipping it (a damaged one is copied again); slow.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Copy every blob from the data directory's filesystem store to the S3 store of the s3_*
    settings, each hashed on the way and committed only if it matches its digest.

    Run it while the server serves; again after stopping pushes, to copy what came since;
    objects already copied are skipped. Exit status 1 if any object could not be copied."""
    settings = _settings(config, data_dir)
    source = _source(settings)
    destination = _destination(settings)
    from cargohold.services.blob_migration import BlobMigration

    migration = BlobMigration(source, destination)
    where_to = f"S3 {destination.options.where}" + (
        f" under the prefix {settings.s3_prefix!r}" if settings.s3_prefix else ""
    )
    if not as_json:
        print(f"copying blobs from {settings.blob_dir.resolve()} to {where_to}", file=sys.stderr)
    try:
        # Listing the whole store only sizes the progress bar: not when none is shown.
        total = None if as_json else sum(1 for _ in source.list())
        report = _run(migration, total, jobs, verify_existing, as_json)
    except OSError as exc:
        raise fail(f"cannot list the blobs in {settings.blob_dir.resolve()}: {exc}") from None
    if as_json:
        print(json.dumps(_as_json(report), indent=2))
    else:
        _print_summary(report)
    if report.failed:
        raise fail(
            f"{_objects(report.failed)} could not be copied (named above); the others are in "
            "place: fix or remove what failed, then run again"
        )


def _settings(config: Path | None, data_dir: str | None) -> Settings:
    path = str(config) if config else None
    try:
        # Every other setting first, as the server would read them.
        load_settings(path, overrides={"data_dir": data_dir, "storage_driver": "filesystem"})
    except ConfigError as exc:
        raise fail(str(exc)) from None
    try:
        # The destination is the S3 store whatever storage_driver says now: check its settings.
        return load_settings(path, overrides={"data_dir": data_dir, "storage_driver": "s3"})
    except ConfigError as exc:
        raise fail(f"the destination is the S3 store of the s3_* settings: {exc}") from None


def _source(settings: Settings) -> BlobDriver:
    objects = settings.blob_dir / "blobs"
    if not objects.is_dir():
        # A mistyped --data-dir must not look like a registry without blobs.
        raise fail(
            f"no blob store in {settings.blob_dir.resolve()}: is --data-dir (or data_dir) the "
            "registry's data directory?"
        )
    from cargohold.storage.filesystem import FilesystemBlobStore

    return FilesystemBlobStore(settings.blob_dir)


def _destination(settings: Settings) -> S3BlobStore:
    from cargohold.wiring import check_blob_store

    try:
        store = check_blob_store(settings)
    except ConfigError as exc:
        raise fail(f"cannot use the destination: {exc}") from None
    assert store is not None  # storage_driver is "s3" (_settings)
    return store


def _run(
    migration: BlobMigration, total: int | None, jobs: int, verify_existing: bool, quiet: bool
) -> BlobMigrationReport:
    from cargohold.services.blob_migration import BlobMigrationReport

    interactive = err_console.is_terminal and not quiet
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not interactive,
    )
    report = BlobMigrationReport()  # filled by the run as each object settles
    last_line = time.monotonic()

    def tally() -> str:
        return (
            f"copied {report.copied} ({size(report.copied_bytes)}), skipped {report.skipped}, "
            f"failed {report.failed}"
        )

    with progress:
        task = progress.add_task("objects", total=total, tally=tally())

        def show(digest: str, outcome: Outcome, nbytes: int, reason: str | None) -> None:
            nonlocal last_line
            if reason is not None and not quiet:
                progress.console.print(
                    f"failed {digest}: {reason}", markup=False, highlight=False, soft_wrap=True
                )
            progress.update(task, advance=1, tally=tally())
            plain = not interactive and not quiet
            if plain and time.monotonic() - last_line >= PLAIN_PROGRESS_SECONDS:
                last_line = time.monotonic()
                print(f"{report.objects}/{total} objects: {tally()}", file=sys.stderr, flush=True)

        return migration.run(jobs, verify_existing, show, report)


def _print_summary(report: BlobMigrationReport) -> None:
    print(
        f"copied {_objects(report.copied)} ({size(report.copied_bytes)}), skipped "
        f"{report.skipped} already there ({size(report.skipped_bytes)}), failed "
        f"{report.failed}; {_objects(report.objects)} in {report.seconds:.1f} s"
    )
    if report.gone:
        print(
            f"{_objects(report.gone)} deleted from the source while the copy ran (a garbage "
            "collection): nothing to copy"
        )


def _objects(count: int) -> str:
    return f"{count} object" if count == 1 else f"{count} objects"


def _as_json(report: BlobMigrationReport) -> dict[str, object]:
    return {
        "objects": report.objects,
        "copied": report.copied,
        "copiedBytes": report.copied_bytes,
        "skipped": report.skipped,
        "skippedBytes": report.skipped_bytes,
        "gone": report.gone,
        "failed": report.failed,
        "failures": [{"digest": f.digest, "reason": f.reason} for f in report.failures],
        "seconds": round(report.seconds, 3),
    }
