"""What every `cargohold` command module shares: options, output and one-line errors."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.console import Console

from cargohold.cli.client import DEFAULT_REGISTRY, AdminClient, ClientError
from cargohold.cli.credentials import use_command_parameters

if TYPE_CHECKING:
    from cargohold.config import Settings

out = Console()
err_console = Console(stderr=True)


def _registry_given(context: typer.Context, value: str) -> str:
    """Keep the command's parameters for the credential lookup, which puts an auth file entry
    for the repository the command names (`HOST/team/app`, `HOST/team`) before the server's."""
    use_command_parameters(context.params)
    return value


RegistryOption = Annotated[
    str,
    typer.Option(
        "--registry",
        envvar="CARGOHOLD_REGISTRY",
        help="URL of the cargohold server.",
        show_default=True,
        callback=_registry_given,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
# The commands that run on the server's own stores (serve, worker, admin) read its settings.
ConfigOption = Annotated[Path | None, typer.Option("--config", help="TOML configuration file.")]
DataDirOption = Annotated[str | None, typer.Option("--data-dir", help="Data directory [./data].")]
# The report commands (scan, lint, analyze): where the report goes, and the CI gate's status.
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the report to FILE instead of stdout."),
]
ExitCodeOption = Annotated[
    int,
    typer.Option(
        "--exit-code",
        min=0,
        max=255,
        help="Exit status when any finding survives the filters (0: report only).",
    ),
]


def fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=1)


def write_output(render: Callable[[TextIO], None], output: Path | None) -> None:
    """A report to stdout, or to `output` once it is whole (an error leaves no half file)."""
    if output is None:
        render(sys.stdout)
        sys.stdout.flush()
        return
    buffer = io.StringIO()
    render(buffer)
    try:
        output.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None


def server_settings(config: Path | None, data_dir: str | None) -> Settings:
    """The settings of the server whose stores a command works on directly (`--config`,
    CARGOHOLD_* variables, `--data-dir`); fails when there is no database to work on."""
    from cargohold.config import ConfigError, load_settings

    try:
        settings = load_settings(str(config) if config else None, overrides={"data_dir": data_dir})
    except ConfigError as exc:
        raise fail(str(exc)) from None
    database = Path(settings.data_dir) / "cargohold.db"
    if not settings.database_url and not database.is_file():
        # A mistyped --data-dir must not look like an empty registry.
        raise fail(f"no cargohold database in {Path(settings.data_dir).resolve()}")
    return settings


def client(registry: str) -> AdminClient:
    return AdminClient(registry or DEFAULT_REGISTRY)


def remote(
    registry: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """One admin API call (AdminClient.call); a failure is a one-line error and exit 1."""
    try:
        return client(registry).call(method, path, body, params)
    except ClientError as exc:
        raise fail(str(exc)) from None


def line_from_stdin(option: str) -> str:
    """One line of standard input without its line ending (a password, for scripts)."""
    line = sys.stdin.readline()
    if not line:
        raise fail(f"{option}: nothing on standard input")
    return line.rstrip("\r\n")


def seconds(stamp: str | float) -> float:
    """UNIX seconds of a time the admin API sent: RFC 3339 for its own resources (docs/api.md),
    UNIX seconds where a document keeps another system's shape (ECR's lifecycle preview)."""
    if isinstance(stamp, str):
        return dt.datetime.fromisoformat(stamp).timestamp()
    return float(stamp)


def when(stamp: str | float | None) -> str:
    """A time in UTC, saying so: schedules and dates given to the CLI are UTC too."""
    if stamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds(stamp)))


def size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


ProjectOption = Annotated[
    str | None, typer.Option("--project", help="Apply to every repository of a project.")
]
RepositoryOption = Annotated[
    str | None, typer.Option("--repository", help="Apply to one repository.")
]


def scope_of(project: str | None, repository: str | None) -> tuple[str, str]:
    """('project', P) or ('repository', R), from exactly one of --project and --repository."""
    if project:
        if repository:
            raise fail("give exactly one of --project or --repository")
        return "project", project
    if not repository:
        raise fail("give exactly one of --project or --repository")
    return "repository", repository


def final_report(
    events: Iterable[dict[str, Any]], what: str, on_progress: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Follow a run the server streams (gc, fsck): progress events go to `on_progress`; the
    report it ends with is returned; an error, or no report, is a one-line failure."""
    report: dict[str, Any] | None = None
    try:
        for event in events:
            if event["event"] == "error":
                raise fail(f"{event['code']}: {event['message']}")
            if event["event"] == "done":
                report = event["report"]
            else:
                on_progress(event)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if report is None:
        raise fail(f"the server ended {what} without a report")
    return report
