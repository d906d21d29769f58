"""Admin API for scanning: scan results, scans on demand, scan policies, the CVE allowlist,
the remediation report and the registry's vulnerability database."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cargohold.api.bodies import spool_body
from cargohold.api.boundary import in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import AppContext, context
from cargohold.api.encoding import json_response
from cargohold.api.models.jobs import JobRun
from cargohold.api.models.scan_policy import (
    Allowlist,
    AllowlistEntry,
    OverdueReport,
    ScanPolicy,
    ScanPolicyList,
)
from cargohold.api.models.scanning import ScanResult, VulnDbImport, VulnDbStatus
from cargohold.api.params import (
    is_read,
    json_body,
    manifest_digest,
    optional_query_flag,
    path_id,
    query_flag,
)
from cargohold.api.route_guard import visibility
from cargohold.errors import (
    AllowlistInvalid,
    AllowlistUnknown,
    RegistryError,
    ScanPolicyInvalid,
    ScanRequestInvalid,
    VulnDbImportInvalid,
    VulnDbImportRefused,
)
from cargohold.extensions.scanning import ScanningExtension
from cargohold.oci.names import is_valid_name
from cargohold.parsing.times import time_from_query

# Formats the result endpoint renders (the CLI asks for the stored form and renders itself).
FORMATS = ("stored", "json", "sarif", "cyclonedx", "spdx")


def _scanning(ctx: AppContext) -> ScanningExtension:
    """The scanning extension, which serves these routes only when it is enabled."""
    return cast(ScanningExtension, ctx.extensions["scanning"])


def _project_param(request: Request, invalid: type[RegistryError]) -> str | None:
    """`?project=`: absent, or a project name (one path component)."""
    project = request.query_params.get("project") or None
    if project is not None and ("/" in project or not is_valid_name(project)):
        raise invalid(f"project {project[:100]!r} is not a project name")
    return project


async def scan_result(request: Request) -> Response:
    ctx = context(request)
    name, reference = request.path_params["name"], request.path_params["reference"]
    form = request.query_params.get("format", "stored")
    if form not in FORMATS:
        raise ScanRequestInvalid(f"format must be one of {', '.join(FORMATS)}")
    digest = await in_pool(manifest_digest, ctx, name, reference)
    if form == "stored":
        stored = await in_pool(_scanning(ctx).scans.stored_result, name, digest)
        return json_response(ScanResult.of(stored))
    from cargohold.scan.report import WRITERS

    result = await in_pool(_scanning(ctx).scans.result, name, digest)
    stream = io.StringIO()
    WRITERS[form](result, stream)
    return Response(stream.getvalue(), media_type="application/json")


async def scan_now(request: Request) -> Response:
    ctx = context(request)
    name, reference = request.path_params["name"], request.path_params["reference"]
    rescan = query_flag(request, "rescan", ScanRequestInvalid)
    digest = await in_pool(manifest_digest, ctx, name, reference)
    run = await in_pool(
        ctx.jobs.submit,
        "scan",
        {"repository": name, "digest": digest, "rescan": rescan},
        "api",
        caller_of(request),
    )
    return json_response(JobRun.of(run), status_code=202)


async def scan_policy(request: Request) -> Response:
    ctx = context(request)
    project = request.path_params["project"]
    if is_read(request):
        return json_response(
            ScanPolicy.of(await in_pool(_scanning(ctx).scan_policies.policy, project))
        )
    if request.method == "DELETE":
        await in_pool(_scanning(ctx).scan_policies.remove_policy, project, caller_of(request))
        return Response(status_code=204)
    document = await json_body(request, ScanPolicyInvalid, "the policy")
    policies = _scanning(ctx).scan_policies
    return json_response(
        ScanPolicy.of(await in_pool(policies.set_policy, project, document, caller_of(request)))
    )


async def scan_policies(request: Request) -> Response:
    ctx = context(request)
    policies = await in_pool(_scanning(ctx).scan_policies.policies)
    shown = await visibility(request)
    return json_response(
        ScanPolicyList(policies=[ScanPolicy.of(p) for p in policies if shown.project(p.project)])
    )


async def list_allowlist(request: Request) -> Response:
    ctx = context(request)
    project = _project_param(request, AllowlistInvalid)
    entries = await in_pool(_scanning(ctx).scan_policies.allowlist, project)
    return json_response(Allowlist(entries=[AllowlistEntry.of(e) for e in entries]))


async def add_allowlist(request: Request) -> Response:
    ctx = context(request)
    document = await json_body(request, AllowlistInvalid, "the entry")
    entry = await in_pool(_scanning(ctx).scan_policies.allow, document, caller_of(request))
    return json_response(AllowlistEntry.of(entry), status_code=201)


async def remove_allowlist(request: Request) -> Response:
    ctx = context(request)
    entry_id = path_id(request, "entry_id", AllowlistUnknown)
    await in_pool(_scanning(ctx).scan_policies.disallow, entry_id, caller_of(request))
    return Response(status_code=204)


async def overdue(request: Request) -> Response:
    """Findings past their remediation deadline now, or as of `?at=` (RFC 3339 or UNIX
    seconds)."""
    ctx = context(request)
    project = _project_param(request, ScanRequestInvalid)
    at = request.query_params.get("at")
    try:
        moment = None if at is None else time_from_query(at)
    except ValueError as exc:
        raise ScanRequestInvalid(f"at: {exc}", detail={"parameter": "at"}) from None
    report = await in_pool(_scanning(ctx).scan_policies.overdue, project, moment)
    return json_response(OverdueReport.of(report))


async def vulndb_status(request: Request) -> Response:
    ctx = context(request)
    return json_response(VulnDbStatus.of(await in_pool(_scanning(ctx).scans.vulndb.status)))


async def vulndb_import(request: Request) -> Response:
    """The body is an OSV export (a zip, or one JSON record or list); `?name=` labels it."""
    from cargohold.services.vulndb import SourceWouldEmpty, import_source
    from cargohold.services.vulndb_sources import SourceError

    ctx = context(request)
    name = request.query_params.get("name") or None
    location = request.query_params.get("location") or "uploaded through the admin API"
    full = optional_query_flag(request, "full", VulnDbImportInvalid)
    allow_empty = query_flag(request, "allowEmpty", VulnDbImportInvalid)
    with tempfile.TemporaryDirectory(prefix="cargohold-vulndb-") as tmp:
        path = Path(tmp) / "upload"  # a zip or JSON: the importer tells them apart
        # Streamed to disk within the configured limit: an export is never held in memory.
        if not await spool_body(request, path, ctx.settings.max_vulndb_import_bytes):
            raise VulnDbImportInvalid("the body is empty: send a zip of OSV records or a record")
        try:
            result = await in_pool(
                lambda: import_source(
                    _scanning(ctx).scans.vulndb,
                    str(path),
                    name or location,
                    full=full,
                    location=location,
                    allow_empty=allow_empty,
                    limits=_scanning(ctx).scan_jobs.archive_limits,
                )
            )
        except SourceWouldEmpty as exc:
            raise VulnDbImportRefused(str(exc)) from None
        except SourceError as exc:
            raise VulnDbImportInvalid(str(exc)) from None
    job = None
    if result.changed:
        run = await in_pool(ctx.jobs.submit, "reevaluate", {}, "api", caller_of(request))
        job = run.id
    return json_response(VulnDbImport.of(result, job))


# Added to the app by the scanning extension (extensions/scanning.py).
ROUTES = [
    Route("/api/v1/scan-policies", scan_policies, methods=["GET"]),
    Route(
        "/api/v1/projects/{project}/scan-policy",
        scan_policy,
        methods=["GET", "PUT", "DELETE"],
    ),
    Route("/api/v1/cve-allowlist", list_allowlist, methods=["GET"]),
    Route("/api/v1/cve-allowlist", add_allowlist, methods=["POST"]),
    Route("/api/v1/cve-allowlist/{entry_id}", remove_allowlist, methods=["DELETE"]),
    Route("/api/v1/vulnerabilities/overdue", overdue, methods=["GET"]),
    Route("/api/v1/vulndb", vulndb_status, methods=["GET"]),
    Route("/api/v1/vulndb/import", vulndb_import, methods=["POST"]),
    Route(
        "/api/v1/repositories/{name:path}/manifests/{reference}/scan",
        scan_result,
        methods=["GET"],
    ),
    Route(
        "/api/v1/repositories/{name:path}/manifests/{reference}/scan",
        scan_now,
        methods=["POST"],
    ),
]
