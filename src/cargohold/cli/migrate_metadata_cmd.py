"""`cargohold migrate-metadata --to URL`: copy a registry's metadata (SQLite by default) into
another database, PostgreSQL for a registry of several nodes.

Not called `migrate`: a registry's schema migrations need no command (`cargohold serve` runs
them at start), and "migrate" alone would read as one. It runs on the server's own stores,
like `cargohold admin`: the source is the metadata the settings name (--config, CARGOHOLD_*
variables, --data-dir), the destination the URL given. The copy is meta/transfer.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cargohold.cli.common import ConfigOption, DataDirOption, err_console, fail, server_settings
from cargohold.errors.exception_text import first_line

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from cargohold.meta.transfer import TransferReport

URL_SCHEMES = ("postgresql://", "sqlite:///")
# A destination that does not answer (a host that drops packets) is an error after this long,
# not a wait of minutes; a connect_timeout in the URL wins.
CONNECT_TIMEOUT_SECONDS = 10


def migrate_metadata(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The destination database: postgresql://USER:PASSWORD@HOST:PORT/NAME "
            "(an empty database), or sqlite:///PATH.",
            show_default=False,
        ),
    ],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Delete what the destination holds before copying."),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=100_000, help="Rows read and written at once."),
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Copy the registry's metadata (every table: repositories, manifests, tags, accounts,
    policies, the audit log, scan results) into another database, in one transaction, and
    check every table's row count. Stop the server first; then point database_url at the
    destination."""
    source_url, data_dir_in_use = _source(config, data_dir)
    if not to.startswith(URL_SCHEMES):
        raise fail(f"--to must be a postgresql:// or sqlite:/// URL, got {_hidden(to)!r}")
    if _same_database(source_url, to):
        raise fail("--to names the database the settings already use: nothing to copy")
    if data_dir_in_use is not None:
        _hold_data_dir(data_dir_in_use)
    report = _transfer(source_url, to, replace, batch_size, as_json)
    if as_json:
        print(json.dumps(_as_json(report, to), indent=2))
    else:
        _print_summary(report, source_url, to)


def _source(config: Path | None, data_dir: str | None) -> tuple[str, Path | None]:
    """The source's URL, and the data directory a server on it would lock (SQLite only)."""
    settings = server_settings(config, data_dir)
    return settings.metadata_url, None if settings.database_url else Path(settings.data_dir)


def _hold_data_dir(data_dir: Path) -> None:
    """Take the lock `cargohold serve` holds on a SQLite data directory, for the rest of this
    command: the copy is one snapshot, so a server still writing there would lose what it
    writes after it, and none can start on it meanwhile."""
    from cargohold.serve_guard import StartRefused, lock_data_dir

    try:
        lock_data_dir(data_dir)
    except StartRefused:
        raise fail(
            f"a cargohold server still serves {data_dir.resolve()}: stop it first (the copy is"
            " one snapshot: what the server wrote after it would be lost)"
        ) from None


def _hidden(url: str) -> str:
    """The URL with its password masked, for messages."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@", 1)[-1]


def _same_database(first: str, second: str) -> bool:
    import sqlalchemy as sa

    try:
        a, b = sa.engine.make_url(first), sa.engine.make_url(second)
    except sa.exc.ArgumentError:
        return False
    if a.get_backend_name() == "sqlite" and b.get_backend_name() == "sqlite":
        return bool(a.database and b.database) and (
            Path(str(a.database)).resolve() == Path(str(b.database)).resolve()
        )
    return (a.host, a.port, a.database) == (b.host, b.port, b.database)


def _transfer(
    source_url: str, destination_url: str, replace: bool, batch_size: int, quiet: bool
) -> TransferReport:
    import sqlite3

    import psycopg
    import sqlalchemy as sa
    from alembic.util.exc import CommandError

    from cargohold.meta.db import make_engine
    from cargohold.meta.transfer import MetadataTransfer, TransferFailed, TransferRefused

    shown = _hidden(destination_url)
    try:
        destination = make_engine(_with_connect_timeout(destination_url))
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise fail(f"--to {shown}: {exc}") from None
    source = make_engine(source_url)
    progress = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
    )
    tasks: dict[str, int] = {}

    def show(table: str, done: int, total: int) -> None:
        if table not in tasks:
            tasks[table] = progress.add_task(table, total=total)
        progress.update(tasks[table], completed=done)

    try:
        _check_reachable(destination, shown)
        with progress:
            return MetadataTransfer(source, destination, batch_size).run(replace, show)
    except (TransferRefused, TransferFailed) as exc:
        raise fail(str(exc)) from None
    except CommandError as exc:
        raise fail(
            f"the destination's schema is not one this cargohold knows ({exc}): a newer release"
            " migrated it; give an empty database"
        ) from None
    except (sa.exc.SQLAlchemyError, sqlite3.Error, psycopg.Error, OSError) as exc:
        raise fail(f"the copy failed: {first_line(exc)}") from None
    finally:
        source.dispose()
        destination.dispose()


def _with_connect_timeout(url: str) -> str:
    import sqlalchemy as sa

    if not url.startswith("postgresql://"):
        return url
    parsed = sa.engine.make_url(url)
    if "connect_timeout" in parsed.query:
        return url
    parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    return parsed.render_as_string(hide_password=False)


def _check_reachable(destination: Engine, shown: str) -> None:
    """A destination that cannot be reached is its own one-line error, before anything else."""
    import sqlalchemy as sa

    try:
        with destination.connect():
            pass
    except sa.exc.DBAPIError as exc:
        raise fail(f"cannot reach the destination database {shown}: {first_line(exc)}") from None


def _print_summary(report: TransferReport, source_url: str, destination_url: str) -> None:
    print(
        f"copied {len(report.tables)} tables ({report.rows} rows) at schema revision "
        f"{report.revision} from {_hidden(source_url)} to {_hidden(destination_url)} in "
        f"{report.seconds:.1f} s; every table's row count checked"
    )
    width = max(len(t.name) for t in report.tables)
    for table in sorted(report.tables, key=lambda t: t.name):
        print(f"  {table.name:<{width}}  {table.destination_rows:>9}")
    if report.uploads_dropped:
        print(
            f"not carried: {report.uploads_dropped} upload session(s) in flight (their bytes"
            " stay in the old blob store; those clients push again)"
        )
    if report.jobs_marked_failed:
        print(
            f"carried as failed: {report.jobs_marked_failed} job run(s) still queued or running"
            " (the queue is not in the metadata): queue them again"
        )
    print(
        "next: set database_url to the destination (and the s3_* settings, once "
        "`cargohold migrate-storage` has copied the blobs), then start the server",
        file=sys.stderr,
    )


def _as_json(report: TransferReport, destination_url: str) -> dict[str, object]:
    return {
        "destination": _hidden(destination_url),
        "revision": report.revision,
        "tables": {t.name: t.destination_rows for t in report.tables},
        "rows": report.rows,
        "uploadsDropped": report.uploads_dropped,
        "jobsMarkedFailed": report.jobs_marked_failed,
        "seconds": round(report.seconds, 3),
    }
