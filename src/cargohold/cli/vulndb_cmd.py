"""`cargohold vulndb`: the local vulnerability database that local scans match against.

The registry keeps a database of its own, filled through its admin API; these commands work
on a local SQLite file and need no server.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from cargohold.cli.client import AdminClient, ClientError
from cargohold.cli.common import JsonOption, err_console, fail, out, print_json, when
from cargohold.errors.exception_text import first_line

if TYPE_CHECKING:
    from cargohold.services.vulndb import ImportResult

vulndb_app = typer.Typer(
    help="The local vulnerability database (OSV records) for local scans.",
    no_args_is_help=True,
)

DbDirOption = Annotated[
    Path | None,
    typer.Option(
        "--db-dir",
        envvar="CARGOHOLD_DB_DIR",
        help="Directory of the local database [$XDG_CACHE_HOME/cargohold or ~/.cache/cargohold].",
        show_default=False,
    ),
]


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Work on this cargohold server's database instead of the local one.",
        show_default=False,
    ),
]


def _import_remote(
    registry: str,
    source: str,
    name: str | None,
    full: bool | None,
    as_json: bool,
    allow_empty: bool,
) -> None:
    """Send SOURCE to the server: a file as it is, a directory zipped, a URL downloaded first."""
    with tempfile.TemporaryDirectory(prefix="cargohold-osv-") as tmp:
        path = Path(source).expanduser()
        if source.startswith(("http://", "https://")):
            from cargohold.services.vulndb_sources import SourceError, download

            try:
                path = download(source, Path(tmp))
            except SourceError as exc:
                raise fail(str(exc)) from None
        elif path.is_dir():
            archive = Path(tmp) / "records.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
                for record in sorted(path.rglob("*.json")):
                    bundle.write(record, str(record.relative_to(path)))
            path = archive
            full = False if full is None else full  # a directory is partial unless --full
        elif not path.is_file():
            raise fail(f"{source}: no such file or directory")
        try:
            document = AdminClient(registry, timeout=600).vulndb_import(
                path.read_bytes(), name, source, full, allow_empty
            )
        except ClientError as exc:
            raise fail(str(exc)) from None
    if as_json:
        print_json(document)
        return
    counts = ", ".join(
        f"{document[key]:,} {key}"
        for key in ("added", "updated", "unchanged", "withdrawn", "removed", "invalid")
    )
    out.print(f"imported {source} into {registry}: {counts}", highlight=False)
    out.print(f"database version {document['version']}", highlight=False)
    if document.get("reevaluationJob"):
        out.print(
            f"stored scans are being re-evaluated: job {document['reevaluationJob']}",
            highlight=False,
        )
    for message in document.get("invalidMessages", []):
        print(f"warning: invalid record: {message}", file=sys.stderr)


def resolve_db_dir(db_dir: Path | None) -> Path:
    """The database directory a command works on: `--db-dir`, or the default cache dir."""
    from cargohold.services.vulndb import default_db_dir

    return db_dir if db_dir is not None else default_db_dir()


@vulndb_app.command("import")
def import_command(
    source: Annotated[
        str,
        typer.Argument(
            help="A directory of OSV JSON files, a zip of them (osv.dev's <Ecosystem>/all.zip),"
            " a JSON file, or an http(s) URL of a zip or JSON file."
        ),
    ],
    db_dir: DbDirOption = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name of the source \\[its path or URL]."),
    ] = None,
    full: Annotated[
        bool | None,
        typer.Option(
            "--full/--partial",
            help="A full export deletes this source's records that it no longer holds"
            " \\[zip: full; directory or JSON file: partial].",
            show_default=False,
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Let a full export that holds none of the source's records remove them all"
            " (refused otherwise).",
        ),
    ] = False,
    as_json: JsonOption = False,
    registry: ServerOption = None,
) -> None:
    """Import OSV advisories: new and newer records are stored, withdrawn ones removed.

    With --registry, into that cargohold server's database (its stored scans are then
    re-evaluated); otherwise into the local one that local scans use.
    """
    import sqlalchemy as sa

    if registry:
        _import_remote(registry, source, name, full, as_json, allow_empty)
        return

    from cargohold.services.vulndb import import_source, open_local
    from cargohold.services.vulndb_sources import SourceError

    directory = resolve_db_dir(db_dir)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} records"),
        console=err_console,
        # Only on a terminal: CI logs get the summary, not spinner frames.
        disable=as_json or not err_console.is_terminal,
        transient=True,
    )
    try:
        store = open_local(directory)
        with progress:
            task = progress.add_task(f"importing {source}", total=None)
            result = import_source(
                store,
                source,
                name,
                full=full,
                progress=lambda count: progress.update(task, completed=count),
                allow_empty=allow_empty,
            )
    except SourceError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot open the database in {directory}: {exc.strerror or exc}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise fail(f"database error in {directory}: {first_line(exc)}") from None
    if as_json:
        from cargohold.api.models.scanning import VulnDbImport

        print_json(_api_document(VulnDbImport.of(result)))
    else:
        _print_import(result)
    for message in result.invalid_messages:
        print(f"warning: invalid record: {message}", file=sys.stderr)
    hidden = result.invalid - len(result.invalid_messages)
    if hidden > 0:
        print(f"warning: ... and {hidden} more invalid records", file=sys.stderr)


def _api_document(model: object) -> Any:
    """An admin API model (api/models/scanning.py) as JSON values: `--json` prints the same
    document for the local database as for a server's."""
    import msgspec

    return msgspec.to_builtins(model)


def _print_import(result: ImportResult) -> None:
    table = Table()
    for column in ("added", "updated", "unchanged", "withdrawn", "removed", "invalid"):
        table.add_column(column, justify="right")
    table.add_row(
        *(
            f"{n:,}"
            for n in (
                result.added,
                result.updated,
                result.unchanged,
                result.withdrawn,
                result.removed,
                result.invalid,
            )
        )
    )
    named = f" as source {result.name!r}" if result.name != result.location else ""
    out.print(f"imported {result.location}{named}", highlight=False)
    out.print(table)
    out.print(
        f"{result.records:,} records read in {result.seconds:.1f} s"
        f"{' (full export: records gone from it removed)' if result.full else ''}; "
        f"{len(result.keys_touched):,} packages touched; database version {result.version}",
        highlight=False,
    )


@vulndb_app.command("status")
def status_command(
    db_dir: DbDirOption = None, as_json: JsonOption = False, registry: ServerOption = None
) -> None:
    """Show the database's version, record counts per source and ecosystem, last updates."""
    import sqlalchemy as sa

    if registry:
        try:
            document = AdminClient(registry).vulndb_status()
        except ClientError as exc:
            raise fail(str(exc)) from None
        if as_json:
            print_json(document)
            return
        out.print(f"database of {registry}", highlight=False)
        out.print(
            f"version {document['version']}, {document['records']:,} records affecting "
            f"{document['packages']:,} packages, last changed {when(document['updatedAt'])}",
            highlight=False,
        )
        for source in document["sources"]:
            out.print(
                f"  {source['name']}: {source['records']:,} records, imported "
                f"{when(source['lastImportAt'])}",
                highlight=False,
            )
        return

    from cargohold.services.vulndb import local_database_exists, open_local

    directory = resolve_db_dir(db_dir)
    if not local_database_exists(directory):
        raise fail(
            f"no vulnerability database in {directory}: fill it with "
            "`cargohold vulndb import SOURCE`"
        )
    try:
        status = open_local(directory).status()
    except OSError as exc:
        raise fail(f"cannot open the database in {directory}: {exc.strerror or exc}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise fail(f"database error in {directory}: {first_line(exc)}") from None
    if as_json:
        from cargohold.api.models.scanning import VulnDbStatus

        document = _api_document(VulnDbStatus.of(status))
        print_json({"path": str(directory / "vulndb.sqlite"), **document})
        return
    out.print(f"database {directory / 'vulndb.sqlite'}", highlight=False)
    out.print(
        f"version {status.version}, {status.records:,} records affecting "
        f"{status.packages:,} packages, last changed {when(status.updated_at)}",
        highlight=False,
    )
    sources = Table()
    sources.add_column("source", overflow="fold")
    sources.add_column("records", justify="right")
    sources.add_column("last import")
    sources.add_column("newest record")
    for source in status.sources:
        named = f"{source.name} ({source.location})" if source.location != source.name else ""
        sources.add_row(
            named or source.name,
            f"{source.records:,}",
            when(source.last_import_at),
            when(source.last_modified),
        )
    out.print(sources)
    if status.ecosystems:
        ecosystems = Table("ecosystem")
        ecosystems.add_column("records", justify="right")
        for ecosystem, count in status.ecosystems.items():
            ecosystems.add_row(ecosystem, f"{count:,}")
        out.print(ecosystems)
