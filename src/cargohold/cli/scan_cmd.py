"""`cargohold scan IMAGE`: inventory a local image, match it, filter, report and gate.

Flags follow Trivy's so a pipeline can switch tools without rewriting its gates: `--severity`
filters what is shown and counted, `--exit-code N` is the exit status when any finding
survives the filters (or when the image's OS packages could not be inventoried), `--ignorefile`
reads `.trivyignore` / `.trivyignore.yaml`. Errors are one line on stderr and exit 1; bad
usage exits 2.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import tarfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from sqlalchemy.exc import SQLAlchemyError

from cargohold.cli.common import fail
from cargohold.scan.errors import ScanError
from cargohold.scan.filters import (
    IgnorefileError,
    IgnoreRules,
    ScanFilter,
    apply_filter,
    exit_status,
    load_ignorefile,
    parse_severities,
)
from cargohold.scan.findings import SEVERITIES, PlatformResult, ScanResult
from cargohold.scan.inventory import inventory_source
from cargohold.scan.layout import open_images
from cargohold.scan.matching import match_inventory
from cargohold.scan.model import Inventory
from cargohold.scan.reference import TRANSPORTS, ImageReference, parse_reference
from cargohold.scan.report import VULNERABILITY_FORMATS, WRITERS, table
from cargohold.services.vulndb import default_db_dir, local_database_exists, open_local

DEFAULT_IGNOREFILE = Path(".trivyignore")
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst")


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    cyclonedx = "cyclonedx"
    spdx = "spdx"


def _severities(value: str) -> str:
    try:
        parse_severities(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def scan(
    image: Annotated[
        str,
        typer.Argument(
            metavar="IMAGE",
            help="oci:PATH[:TAG], oci-archive:PATH, docker-archive:PATH, or a path to an OCI "
            "layout directory or an image tarball.",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ReportFormat.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to FILE instead of stdout."),
    ] = None,
    severity: Annotated[
        str,
        typer.Option(
            "--severity",
            "-s",
            callback=_severities,
            help="Comma-separated severities to show and count.",
        ),
    ] = ",".join(SEVERITIES),
    exit_code: Annotated[
        int,
        typer.Option(
            "--exit-code",
            min=0,
            max=255,
            help="Exit status when any finding survives the filters (0: report only).",
        ),
    ] = 0,
    ignore_unfixed: Annotated[
        bool, typer.Option("--ignore-unfixed", help="Hide findings that have no fixed version.")
    ] = False,
    ignorefile: Annotated[
        Path | None,
        typer.Option(
            "--ignorefile",
            help="IDs to ignore: .trivyignore or .trivyignore.yaml [./.trivyignore if present].",
            show_default=False,
        ),
    ] = None,
    db_dir: Annotated[
        Path | None,
        typer.Option(
            "--db-dir",
            envvar="CARGOHOLD_DB_DIR",
            help="Local vulnerability database [$XDG_CACHE_HOME/cargohold or ~/.cache/cargohold].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Scan a local image for vulnerable packages, or write its SBOM."""
    severities = parse_severities(severity)
    ignore = _ignore_rules(ignorefile)
    reference = resolve_image(image)
    try:
        inventories = _inventory(reference)
    except ScanError as exc:
        raise fail(_one_line(str(exc))) from None
    wants_vulnerabilities = output_format in VULNERABILITY_FORMATS
    if wants_vulnerabilities:
        result = _match(image, inventories, db_dir)
    else:
        result = ScanResult(image, [PlatformResult(inventory) for inventory in inventories])
    today = dt.datetime.now(dt.UTC).date()
    filtered = apply_filter(result, ScanFilter(severities, ignore_unfixed, ignore), today)
    _write_report(filtered, output_format, output, severities)
    status = exit_status(filtered, exit_code)
    if wants_vulnerabilities and result.db_version is None:
        _warn(
            "no vulnerability data is loaded: only the package inventory was read; "
            "fill the database with `cargohold vulndb import SOURCE`"
            + (f" (--exit-code {exit_code}: failing, nothing was checked)" if exit_code else "")
        )
        status = exit_code
    if output_format is not ReportFormat.table or output is not None:
        _warn_problems(filtered)
    raise typer.Exit(code=status)


def resolve_image(text: str) -> ImageReference:
    """The local image IMAGE names; one-line errors for everything else."""
    transport, sep, _ = text.partition(":")
    if sep and transport in TRANSPORTS:
        try:
            return parse_reference(text)
        except ScanError as exc:
            raise fail(_one_line(str(exc))) from None
    path = Path(text)
    if path.is_dir():
        return ImageReference("oci", path)
    if path.is_file():
        return ImageReference(_archive_transport(path), path)
    if text.startswith(("/", "./", "../", "~")) or text.endswith(_ARCHIVE_SUFFIXES):
        raise fail(f"{text}: no such file or directory")
    raise fail(
        f"{text}: scanning registry images (HOST/REPO:TAG, REPO@DIGEST) is not supported yet; "
        "name a local image as oci:PATH[:TAG], oci-archive:PATH or docker-archive:PATH"
    )


def _archive_transport(path: Path) -> str:
    """`oci-archive` for a tarball holding an OCI layout, `docker-archive` for `docker save`."""
    try:
        with tarfile.open(path, "r:*") as archive:
            names = {name.removeprefix("./").lstrip("/") for name in archive.getnames()}
    except (tarfile.TarError, OSError, EOFError):
        raise fail(f"{path}: not a readable tar archive") from None
    # Docker 25+ writes both: an OCI layout and a manifest.json; the OCI side is complete.
    if "index.json" in names or "oci-layout" in names:
        return "oci-archive"
    if "manifest.json" in names:
        return "docker-archive"
    raise fail(f"{path}: not an image archive (neither index.json nor manifest.json inside)")


def _inventory(reference: ImageReference) -> list[Inventory]:
    with open_images(reference) as images:
        return [inventory_source(image) for image in images]


def _ignore_rules(ignorefile: Path | None) -> IgnoreRules:
    path = ignorefile
    if path is None:
        if not DEFAULT_IGNOREFILE.is_file():
            return IgnoreRules()
        path = DEFAULT_IGNOREFILE
    try:
        return load_ignorefile(path)
    except IgnorefileError as exc:
        raise fail(str(exc)) from None


def _match(target: str, inventories: list[Inventory], db_dir: Path | None) -> ScanResult:
    """Match every platform's inventory against the local vulnerability database.

    `db_version` is None when no vulnerability data is loaded (no database, or no records).
    """
    directory = db_dir if db_dir is not None else default_db_dir()
    platforms = [PlatformResult(inventory) for inventory in inventories]
    if not local_database_exists(directory):
        return ScanResult(target, platforms)
    try:
        store = open_local(directory)
        if store.status().records == 0:
            return ScanResult(target, platforms)
        version = store.version()
        for platform in platforms:
            platform.findings = match_inventory(platform.inventory, store)
    except SQLAlchemyError as exc:
        message = _one_line(str(exc.orig) if getattr(exc, "orig", None) else str(exc))
        raise fail(f"cannot read the vulnerability database in {directory}: {message}") from None
    return ScanResult(target, platforms, version)


def _write_report(
    result: ScanResult, output_format: ReportFormat, output: Path | None, severities: frozenset[str]
) -> None:
    def render(stream: TextIO) -> None:
        if output_format is ReportFormat.table:
            table.write(result, stream, severities)
        else:
            WRITERS[output_format.value](result, stream)

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


def _one_line(message: str) -> str:
    """Some library messages (tarfile's) span lines; an error here is one line."""
    return "; ".join(line.strip(" -") for line in message.splitlines() if line.strip())


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _warn_problems(result: ScanResult) -> None:
    for platform in result.platforms:
        for problem in platform.inventory.problems:
            where = f" ({problem.location})" if problem.location else ""
            _warn(f"{problem.code}: {problem.message}{where}")
