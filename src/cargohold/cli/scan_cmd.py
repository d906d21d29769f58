"""`cargohold scan IMAGE`: inventory a local image, match it, filter, report and gate.

Flags follow Trivy's so a pipeline can switch tools without rewriting its gates: `--severity`
filters what is shown and counted, `--exit-code N` is the exit status when any finding
survives the filters (or when the image's OS packages could not be inventoried), `--ignorefile`
reads `.trivyignore` / `.trivyignore.yaml`. Errors are one line on stderr and exit 1; bad
usage exits 2.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from cargohold.cli.client import AdminClient, ClientError
from cargohold.cli.common import ExitCodeOption, OutputOption, fail, write_output
from cargohold.cli.scan_sources import RegistryImage, fetched, one_line, resolve_image
from cargohold.scan.findings import SEVERITIES

# The engines (inventory, matching, report writers, the vulnerability database and SQLAlchemy)
# are imported where they are used: every `cargohold` command builds this command's signature,
# and `cargohold --help` or `cargohold repos` must not load them.
if TYPE_CHECKING:
    from cargohold.scan.filters import IgnoreRules
    from cargohold.scan.findings import ScanResult
    from cargohold.scan.model import Inventory
    from cargohold.scan.reference import ImageReference

DEFAULT_IGNOREFILE = Path(".trivyignore")


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    cyclonedx = "cyclonedx"
    spdx = "spdx"


def _severities(value: str) -> str:
    from cargohold.scan.filters import parse_severities

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
            help="oci:PATH[:TAG], oci-archive:PATH, docker-archive:PATH, a path to an OCI "
            "layout directory or an image tarball, docker://HOST/REPO:TAG or HOST/REPO:TAG "
            "(any registry), or docker-daemon:NAME[:TAG].",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ReportFormat.table,
    output: OutputOption = None,
    severity: Annotated[
        str,
        typer.Option(
            "--severity",
            "-s",
            callback=_severities,
            help="Comma-separated severities to show and count.",
        ),
    ] = ",".join(SEVERITIES),
    exit_code: ExitCodeOption = 0,
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
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            envvar="CARGOHOLD_REGISTRY",
            help="URL of the cargohold server holding a REPO:TAG or REPO@DIGEST image "
            "\\[http(s)://HOST when IMAGE names one].",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(help="Registry images: how long to wait for a scan the server runs now."),
    ] = 600,
    rescan: Annotated[
        bool,
        typer.Option(
            "--rescan",
            help="Images on a cargohold server: have the server read the layers again "
            "(after a failed scan, or to refresh an inventory) and wait for it.",
        ),
    ] = False,
) -> None:
    """Scan an image for vulnerable packages, or write its SBOM.

    A local image is read here and matched against the local database; an image on a
    cargohold server is scanned there (its stored result, or a scan queued now and waited for).
    """
    from cargohold.scan.errors import ScanError
    from cargohold.scan.filters import ScanFilter, apply_filter, exit_status, parse_severities
    from cargohold.scan.findings import PlatformResult, ScanResult
    from cargohold.scan.reference import ImageReference
    from cargohold.scan.report import SBOM_FORMATS, VULNERABILITY_FORMATS

    severities = parse_severities(severity)
    ignore = _ignore_rules(ignorefile)
    wants_vulnerabilities = output_format in VULNERABILITY_FORMATS
    reference = resolve_image(image, registry)
    if isinstance(reference, RegistryImage):
        result = registry_result(reference, timeout, rescan)
    else:
        try:
            with (
                contextlib.nullcontext(reference)
                if isinstance(reference, ImageReference)
                else fetched(reference)
            ) as local:
                inventories = _inventory(local)
        except ScanError as exc:
            raise fail(one_line(str(exc))) from None
        if wants_vulnerabilities:
            result = _match(image, inventories, db_dir)
        else:
            result = ScanResult(image, [PlatformResult(inventory) for inventory in inventories])
    today = dt.datetime.now(dt.UTC).date()
    filtered = apply_filter(result, ScanFilter(severities, ignore_unfixed, ignore), today)
    _write_report(filtered, output_format, output, severities)
    status = exit_status(filtered, exit_code)
    # An SBOM is complete without vulnerability data; only a gate on it needs the database.
    needs_data = output_format not in SBOM_FORMATS or bool(exit_code)
    if wants_vulnerabilities and needs_data and result.db_version is None:
        _warn(
            "no vulnerability data is loaded: only the package inventory was read; "
            "fill the database with `cargohold vulndb import SOURCE` (add --registry URL for "
            "the server's)"
            + (f" (--exit-code {exit_code}: failing, nothing was checked)" if exit_code else "")
        )
        status = exit_code
    if output_format is not ReportFormat.table or output is not None:
        _warn_problems(filtered)
    raise typer.Exit(code=status)


def registry_result(image: RegistryImage, timeout: float, rescan: bool = False) -> ScanResult:
    """The server's stored scan of the image; when there is none yet (or `rescan`), a scan
    waited for. A failed scan is an error that says why, and how to scan again."""
    api = AdminClient(image.base, timeout=60)
    try:
        if not rescan:
            try:
                stored = _stored_scan(api, image, "--rescan")
            except ClientError as exc:
                if exc.code != "SCAN_UNKNOWN":
                    raise
            else:
                if stored is not None:
                    return stored
        # Not scanned yet, or by an older version of the server's package readers: the
        # server reads such a platform's layers again.
        job = api.wait_for_job(api.scan_now(image.repository, image.reference, rescan), timeout)
        if job["state"] not in ("succeeded", "failed"):
            raise fail(
                f"the scan of {image.repository}:{image.reference} is still "
                f"{job['state']} after {timeout:g}s (job {job['id']})"
            )
        if job["state"] == "failed":
            raise fail(f"the registry could not scan {image.repository}: {job['error']}")
        if job["result"].get("skipped"):
            raise fail(f"{image.repository}:{image.reference}: {job['result']['skipped']}")
        result = _stored_scan(api, image, "--rescan (once the cause is fixed)", stale_ok=True)
        assert result is not None
        return result
    except ClientError as exc:
        raise fail(str(exc)) from None


def _stored_scan(
    api: AdminClient, image: RegistryImage, again: str, stale_ok: bool = False
) -> ScanResult | None:
    """The server's stored scan of the image; None when a platform's inventory is stale (an
    older version of the server's readers made it) unless `stale_ok`. A scan the server ran
    and that failed is the one line that says what, why, and what to do (run the same
    command with `again`)."""
    try:
        document = api.scan_result(image.repository, image.reference)
        if not stale_ok and any(p.get("stale") for p in document.get("platforms", [])):
            return None
        return _stored(document)
    except ClientError as exc:
        if exc.code != "SCAN_FAILED":
            raise
        detail = exc.detail if isinstance(exc.detail, dict) else {}
        reason = detail.get("reason") or str(exc)
        where = f"{image.repository}{'@' if image.reference.startswith('sha') else ':'}"
        raise fail(
            f"scan failed: the registry could not scan {where}{image.reference} "
            f"({detail.get('digest', '')}): {reason}; run the same command with {again} "
            "to scan it again"
        ) from None


def _stored(document: dict[str, Any]) -> ScanResult:
    from cargohold.scan.storedform import result_from_json

    result = result_from_json(document)
    if (result.db_version or "0-").startswith("0-"):
        result.db_version = None  # the server's database holds no records
    return result


def _inventory(reference: ImageReference) -> list[Inventory]:
    from cargohold.scan.inventory import inventory_source
    from cargohold.scan.layout import open_images

    with open_images(reference) as images:
        return [inventory_source(image) for image in images]


def _ignore_rules(ignorefile: Path | None) -> IgnoreRules:
    from cargohold.scan.filters import IgnorefileError, IgnoreRules, load_ignorefile

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
    from sqlalchemy.exc import SQLAlchemyError

    from cargohold.scan.findings import PlatformResult, ScanResult
    from cargohold.scan.matching import coverage_problems, match_inventory
    from cargohold.services.vulndb import default_db_dir, local_database_exists, open_local

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
            platform.inventory.problems.extend(coverage_problems(platform.inventory))
    except SQLAlchemyError as exc:
        message = one_line(str(exc.orig) if getattr(exc, "orig", None) else str(exc))
        raise fail(f"cannot read the vulnerability database in {directory}: {message}") from None
    return ScanResult(target, platforms, version)


def _write_report(
    result: ScanResult, output_format: ReportFormat, output: Path | None, severities: frozenset[str]
) -> None:
    from cargohold.scan.report import WRITERS, table

    def render(stream: TextIO) -> None:
        if output_format is ReportFormat.table:
            table.write(result, stream, severities)
        else:
            WRITERS[output_format.value](result, stream)

    write_output(render, output)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _warn_problems(result: ScanResult) -> None:
    for platform in result.platforms:
        for problem in platform.inventory.problems:
            where = f" ({problem.location})" if problem.location else ""
            _warn(f"{problem.code}: {problem.message}{where}")
