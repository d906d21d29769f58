"""The ASGI application: routes, error handlers and process-wide services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from cargohold.api import admin, scanning
from cargohold.api.accesslog import AccessLogMiddleware
from cargohold.api.bodyguard import BodyGuardMiddleware
from cargohold.api.context import AppContext
from cargohold.api.diskguard import DiskSpaceGuard, disk_full_handler
from cargohold.api.errors import (
    client_disconnect_handler,
    http_error_handler,
    registry_error_handler,
    unexpected_error_handler,
)
from cargohold.api.v2.base import version_check
from cargohold.api.v2.blobs import blob
from cargohold.api.v2.catalog import catalog
from cargohold.api.v2.manifests import manifest
from cargohold.api.v2.referrers import referrers
from cargohold.api.v2.tags import tags_list
from cargohold.api.v2.uploads import start_upload, upload_session
from cargohold.config import Settings
from cargohold.errors import RegistryError
from cargohold.jobs.queue import JobQueue, NodeLeader, open_huey
from cargohold.logs import configure_logging
from cargohold.meta.db import make_engine
from cargohold.meta.store import MetadataStore
from cargohold.meta.vulndb import VulnStore
from cargohold.oci.manifests import Manifest
from cargohold.policy.access import AllowAll, ReadOnly
from cargohold.server import SETTINGS_ENV
from cargohold.services.archive_limits import ArchiveLimits
from cargohold.services.fsck import BlobConsistencyCheck
from cargohold.services.gc import GarbageCollector
from cargohold.services.holds import HoldService
from cargohold.services.inventory import InventoryService
from cargohold.services.jobs import JobService, ScanJobs
from cargohold.services.lifecycle import LifecycleService
from cargohold.services.pulls import PullRecorder
from cargohold.services.quotas import QuotaService
from cargohold.services.registry import RegistryService
from cargohold.services.scanning import ScanService
from cargohold.services.staging import UploadStaging
from cargohold.services.storage_report import StorageReportService
from cargohold.services.tag_rules import TagRuleService
from cargohold.services.uploads import UploadService
from cargohold.storage.filesystem import FilesystemBlobStore
from cargohold.storage.space import SpaceReserve

log = logging.getLogger("cargohold.api")

ROUTES = [
    Route("/v2/", version_check, methods=["GET"]),
    Route("/v2/_catalog", catalog, methods=["GET"]),
    Route("/v2/{name:path}/tags/list", tags_list, methods=["GET"]),
    Route(
        "/v2/{name:path}/manifests/{reference}",
        manifest,
        methods=["GET", "HEAD", "PUT", "DELETE"],
    ),
    Route("/v2/{name:path}/blobs/uploads/", start_upload, methods=["POST"]),
    Route("/v2/{name:path}/blobs/uploads", start_upload, methods=["POST"]),
    Route(
        "/v2/{name:path}/blobs/uploads/{upload_id}",
        upload_session,
        methods=["GET", "PATCH", "PUT", "DELETE"],
    ),
    Route("/v2/{name:path}/blobs/{digest}", blob, methods=["GET", "HEAD", "DELETE"]),
    Route("/v2/{name:path}/referrers/{digest}", referrers, methods=["GET"]),
    Route("/api/v1/openapi.json", admin.openapi, methods=["GET"]),
    Route("/api/v1/system", admin.system_info, methods=["GET"]),
    Route("/api/v1/repositories", admin.repositories, methods=["GET"]),
    Route("/api/v1/repositories/{name:path}/tags", admin.repository_tags, methods=["GET"]),
    Route("/api/v1/tag-rules", admin.list_tag_rules, methods=["GET"]),
    Route("/api/v1/tag-rules", admin.add_tag_rule, methods=["POST"]),
    Route("/api/v1/tag-rules/{rule_id}", admin.remove_tag_rule, methods=["DELETE"]),
    Route("/api/v1/audit", admin.audit, methods=["GET"]),
    Route("/api/v1/gc", admin.garbage_collect, methods=["POST"]),
    Route("/api/v1/fsck", admin.fsck, methods=["POST"]),
    Route("/api/v1/jobs", admin.list_jobs, methods=["GET"]),
    Route("/api/v1/jobs", admin.submit_job, methods=["POST"]),
    Route("/api/v1/jobs/{job_id}", admin.job, methods=["GET"]),
    Route("/api/v1/scan-policies", scanning.scan_policies, methods=["GET"]),
    Route(
        "/api/v1/projects/{project}/scan-policy",
        scanning.scan_policy,
        methods=["GET", "PUT", "DELETE"],
    ),
    Route("/api/v1/cve-allowlist", scanning.list_allowlist, methods=["GET"]),
    Route("/api/v1/cve-allowlist", scanning.add_allowlist, methods=["POST"]),
    Route("/api/v1/cve-allowlist/{entry_id}", scanning.remove_allowlist, methods=["DELETE"]),
    Route("/api/v1/vulnerabilities/overdue", scanning.overdue, methods=["GET"]),
    Route("/api/v1/vulndb", scanning.vulndb_status, methods=["GET"]),
    Route("/api/v1/vulndb/import", scanning.vulndb_import, methods=["POST"]),
    Route(
        "/api/v1/repositories/{name:path}/manifests/{reference}/scan",
        scanning.scan_result,
        methods=["GET"],
    ),
    Route(
        "/api/v1/repositories/{name:path}/manifests/{reference}/scan",
        scanning.scan_now,
        methods=["POST"],
    ),
    Route("/api/v1/storage", admin.storage_report, methods=["GET"]),
    Route(
        "/api/v1/projects/{project}/quota",
        admin.project_quota,
        methods=["GET", "PUT", "DELETE"],
    ),
    Route("/api/v1/holds", admin.list_holds, methods=["GET"]),
    Route("/api/v1/holds", admin.add_hold, methods=["POST"]),
    Route("/api/v1/holds/{hold_id}", admin.release_hold, methods=["DELETE"]),
    Route(
        "/api/v1/repositories/{name:path}/lifecycle",
        admin.lifecycle_policy,
        methods=["GET", "PUT", "DELETE"],
    ),
    Route(
        "/api/v1/repositories/{name:path}/lifecycle/apply",
        admin.lifecycle_apply,
        methods=["POST"],
    ),
    Route(
        "/api/v1/repositories/{name:path}/lifecycle/preview",
        admin.lifecycle_preview,
        methods=["POST"],
    ),
]


def _parse_osv(data: dict[str, Any]) -> Any:
    """scan.osv.parse_record, imported when a record is first read (by a scan)."""
    from cargohold.scan.osv import parse_record

    return parse_record(data)


def build_context(settings: Settings, lean: bool = False) -> AppContext:
    """Every service of a process. `lean`: a server or worker process, whose stores are fixed
    for its lifetime (see jobs.queue.open_huey)."""
    engine = make_engine(settings.metadata_url)
    meta = MetadataStore(engine, settings.gc_grace_seconds)
    blobs = FilesystemBlobStore(settings.blob_dir)
    pulls = PullRecorder(meta, settings.pull_flush_seconds)
    access = ReadOnly() if settings.read_only else AllowAll()
    tag_rules = TagRuleService(meta)
    holds = HoldService(meta)
    registry = RegistryService(meta, blobs, access, pulls, tag_rules, holds)
    # SQLite has one writer at a time: one thread per process queues this process's writes
    # instead of making several threads spin on the lock.
    writers = 1 if meta.dialect == "sqlite" else 8
    db_executor = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="db")
    staging = UploadStaging(meta, blobs, settings.upload_expiry_seconds)
    uploads = UploadService(meta, blobs, staging, db_executor=db_executor, access=access)
    space = SpaceReserve(settings.data_dir, settings.disk_reserve_bytes)
    inventory = InventoryService(meta, blobs, space)
    gc = GarbageCollector(meta, blobs, uploads, settings.gc_grace_seconds, holds)
    lifecycle = LifecycleService(meta, holds)
    queue = JobQueue(
        open_huey(settings.job_store, settings.metadata_url, settings.data_dir, lean=lean)
    )
    jobs = JobService(meta, queue, gc, lifecycle)
    jobs.add_schedules(
        settings.gc_schedule, settings.gc_schedule_untagged, settings.lifecycle_schedule
    )
    vulndb = VulnStore(engine, _parse_osv)
    scans = ScanService(meta, blobs, vulndb, settings.scan_on_push, settings.sla_days)
    archive_limits = ArchiveLimits(
        settings.vulndb_zip_member_max_bytes, settings.vulndb_zip_max_ratio
    )
    scan_jobs = ScanJobs(jobs, scans, settings.vulndb_source_list, archive_limits)
    scan_jobs.add_schedule(settings.vulndb_schedule)

    def after_push(repository: str, digest: str, manifest: Manifest) -> None:
        if scans.wants_scan_on_push(repository, manifest):
            scan_jobs.scan_pushed(repository, digest)

    registry.after_push = after_push
    registry.pull_gate = scans.check_pull
    return AppContext(
        settings,
        registry,
        uploads,
        pulls,
        inventory,
        lifecycle,
        tag_rules,
        holds,
        gc,
        QuotaService(meta),
        StorageReportService(meta, gc),
        db_executor,
        jobs,
        scans,
        scan_jobs,
        BlobConsistencyCheck(meta, blobs),
        space,
    )


async def _expire_idle_uploads(ctx: AppContext) -> None:
    """Drop upload sessions idle past the expiry, a few times per expiry period."""
    interval = max(1.0, min(600.0, ctx.settings.upload_expiry_seconds / 4))
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            await loop.run_in_executor(None, ctx.uploads.expire_idle)
            await loop.run_in_executor(None, ctx.space.restore)
        except Exception:
            log.exception("expiring idle uploads failed; will retry")


def create_app(settings: Settings, lean: bool = False) -> AccessLogMiddleware:
    ctx = build_context(settings, lean)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx.pulls.start()
        leader = NodeLeader(
            Path(ctx.settings.data_dir) / "jobs.lock",
            lambda: ctx.jobs.queue.start(ctx.settings.job_workers),
        )
        if ctx.settings.job_workers:
            leader.start()
        housekeeping = asyncio.create_task(_expire_idle_uploads(ctx))
        try:
            yield
        finally:
            housekeeping.cancel()
            await asyncio.get_running_loop().run_in_executor(None, ctx.jobs.flush)
            await asyncio.get_running_loop().run_in_executor(None, ctx.jobs.queue.stop)
            leader.stop()
            ctx.pulls.close()

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={
            RegistryError: registry_error_handler,
            ClientDisconnect: client_disconnect_handler,
            HTTPException: http_error_handler,
            # A full disk surfaces as one of these; anything else they raise stays a 500.
            OSError: disk_full_handler,
            sqlite3.Error: disk_full_handler,
            sa.exc.DBAPIError: disk_full_handler,
            Exception: unexpected_error_handler,
        },
    )
    if ctx.registry.meta.dialect == "postgresql":
        import psycopg  # the hot path's raw driver errors (meta/fastpath.py)

        app.add_exception_handler(psycopg.Error, disk_full_handler)
    app.state.ctx = ctx
    guarded = BodyGuardMiddleware(
        DiskSpaceGuard(app, ctx.space),
        settings.body_read_timeout_seconds,
        settings.max_uploads_per_client,
    )
    return AccessLogMiddleware(guarded, enabled=settings.access_log)


def app_from_env() -> AccessLogMiddleware:
    """Factory for server workers: settings arrive serialised in the environment."""
    settings = Settings.from_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, lean=True)
