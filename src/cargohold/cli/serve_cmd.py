"""`cargohold serve` and `cargohold worker`: run the registry server, or only its background
jobs. The server's modules are imported inside the commands: the rest of the CLI never needs
them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from cargohold.cli.common import ConfigOption, DataDirOption, fail
from cargohold.config import ConfigError, load_settings
from cargohold.errors.exception_text import first_line


def serve(
    config: ConfigOption = None,
    addr: Annotated[
        str | None, typer.Option("--addr", help="Listen address HOST:PORT [127.0.0.1:5000].")
    ] = None,
    data_dir: DataDirOption = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes [2].")] = None,
) -> None:
    """Run the registry server (flags win over CARGOHOLD_* variables, which win over the file)."""
    from cargohold.server import run_server

    with _refusals():
        settings = load_settings(
            str(config) if config else None,
            overrides={"addr": addr, "data_dir": data_dir, "workers": workers},
        )
        _warn_unknown_environment()
        run_server(settings)


def worker(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Job threads \\[job_workers, or 2].")
    ] = None,
) -> None:
    """Run background jobs (scans, gc, lifecycle) without serving HTTP."""
    from cargohold.server import run_worker

    with _refusals():
        settings = load_settings(str(config) if config else None, overrides={"data_dir": data_dir})
        _warn_unknown_environment()
        run_worker(settings, threads or settings.job_workers or 2)


def _warn_unknown_environment() -> None:
    """A CARGOHOLD_* variable that nothing reads is most likely a typo: say so on stderr
    before starting, rather than run with the default the operator meant to change."""
    from cargohold.config import unknown_environment

    for line in unknown_environment():
        typer.echo(f"warning: {line}", err=True)


@contextmanager
def _refusals() -> Iterator[None]:
    """What stops `serve` or `worker` from starting, as one line and exit status 1: the
    settings, the operating system, the metadata database or its schema."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot start: {exc}") from None
    except OperationalError as exc:
        raise fail(_unreachable(exc)) from None
    except CommandError as exc:
        raise fail(_schema_unknown(exc)) from None


def _unreachable(exc: Exception) -> str:
    """One line for a metadata database that cannot be reached or opened at start (the
    driver's own first line says why: refused, unknown host, wrong password, ...)."""
    return f"cannot start: the metadata database cannot be used: {first_line(exc)}"


def _schema_unknown(exc: Exception) -> str:
    """One line for a schema this release cannot migrate: one that a newer release migrated
    (Alembic cannot find its revision here)."""
    return (
        f"cannot start: the metadata schema is not one this cargohold knows ({exc}); it was"
        " migrated by a newer release: run that release, or restore the backup taken before"
        " the upgrade"
    )
