"""The composition root: every service of a process, built once from the settings.

The HTTP app (api/app.py), the job worker (server.run_worker) and the CLI's local commands
take what build_services returns; no service builds its own dependencies, and none has a
permissive default (an access policy, holds): each is given here, or the constructor fails.
Services are plain synchronous code and carry no executors: how the HTTP layer keeps them off
the event loop is its own business (api/boundary.py, decision 017). Optional features are
extensions (extensions/): each enabled one hands its hooks to the services that call them
(on-push hooks and pull gates to the registry, kinds of job to the job service) and its routes
to the app; a disabled one adds nothing and is not imported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from cargohold.config import Settings
from cargohold.config_validation import STORAGE_DRIVERS, ConfigError
from cargohold.extensions.base import CoreServices, Extension
from cargohold.jobs.queue import JobQueue, open_huey
from cargohold.meta.db import make_engine
from cargohold.meta.store import MetadataStore
from cargohold.policy.access import AccessPolicy
from cargohold.services.access import AccessControl
from cargohold.services.admission import AdmissionRules, AdmissionService
from cargohold.services.audit import AuditTrail
from cargohold.services.blob_links import BlobLinkService
from cargohold.services.events import EventSink
from cargohold.services.fsck import BlobConsistencyCheck
from cargohold.services.gc import GarbageCollector
from cargohold.services.holds import HoldService
from cargohold.services.image_analysis import ImageAnalysisService
from cargohold.services.jobs import JobService
from cargohold.services.lifecycle import LifecycleService
from cargohold.services.listings import RegistryListings
from cargohold.services.pull_limits import PullRateLimiter
from cargohold.services.pulls import PullRecorder
from cargohold.services.quotas import QuotaService
from cargohold.services.readiness import StoreChecks
from cargohold.services.registry import RegistryService
from cargohold.services.running_images import RunningImages
from cargohold.services.staging import UploadStaging
from cargohold.services.storage_report import StorageReportService
from cargohold.services.tag_rules import TagRuleService
from cargohold.services.uploads import UploadService
from cargohold.storage.base import BlobDriver
from cargohold.storage.space import SpaceReserve
from cargohold.wiring_access import (
    access_policy,
    build_access_control,
    build_pull_limits,
)

if TYPE_CHECKING:
    from cargohold.storage.s3 import S3BlobStore


@dataclass
class Services:
    """Every service of a process (the HTTP handlers see it as api.context.AppContext)."""

    settings: Settings
    engine: Engine
    meta: MetadataStore
    blobs: BlobDriver
    registry: RegistryService
    # Blob HEAD, GET, mount and delete in a repository.
    blob_links: BlobLinkService
    uploads: UploadService
    pulls: PullRecorder
    listings: RegistryListings
    lifecycle: LifecycleService
    tag_rules: TagRuleService
    holds: HoldService
    gc: GarbageCollector
    quotas: QuotaService
    storage_report: StorageReportService
    # Image analyses (layer sizes, waste), computed once per manifest and stored.
    analysis: ImageAnalysisService
    jobs: JobService
    fsck: BlobConsistencyCheck
    # The data directory's free space and the reserve that keeps deletes working when full.
    space: SpaceReserve
    # Every extension, enabled or not, by name.
    extensions: dict[str, Extension]
    # Users, projects, robots, tokens; the access check (api/access_check.py) asks them.
    access: AccessControl
    # Pull rate limits per class of caller (off unless a limit is set).
    pull_limits: PullRateLimiter
    # The audit log: what no stored change records (pulls, logins, denials), reads, retention.
    audit: AuditTrail
    # One round trip to each store, for /readyz.
    health: StoreChecks
    # The Kubernetes admission webhook: what may run, and what was admitted where.
    admission: AdmissionService

    def enabled_extensions(self) -> list[Extension]:
        return [ext for ext in self.extensions.values() if ext.enabled]


# -- blob store and upload staging ----------------------------------------------------------
# Kept together and small: how blobs are stored and staged is the blob driver's business.


def blob_store_from_settings(settings: Settings, meta: MetadataStore | None = None) -> BlobDriver:
    """The blob store `storage_driver` names; an unknown driver is a configuration error.
    With `meta`, the object store keeps chunked uploads where their parts went (decision
    055); without it (a start-up check, a tool) it copies them to their digest's key."""
    if settings.storage_driver == "filesystem":
        from cargohold.storage.filesystem import FilesystemBlobStore

        return FilesystemBlobStore(settings.blob_dir)
    if settings.storage_driver == "s3":
        from cargohold.storage.s3 import S3BlobStore, S3Options

        return S3BlobStore(
            S3Options(
                bucket=settings.s3_bucket,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                prefix=settings.s3_prefix,
                path_style=settings.s3_path_style,
                redirect=settings.s3_redirect,
                redirect_expiry_seconds=settings.s3_redirect_expiry_seconds,
            ),
            locations=meta.blob_locations if meta is not None else None,
        )
    raise ConfigError(
        f"storage_driver must be one of {', '.join(STORAGE_DRIVERS)}, "
        f"got {settings.storage_driver!r}"
    )


def check_blob_store(settings: Settings) -> S3BlobStore | None:
    """At start-up: a ConfigError (one line) unless the blob store can be used. Only the
    object store has something to check: the bucket must answer to the credentials. The
    object store checked, or None (the filesystem store, with nothing to check)."""
    if settings.storage_driver != "s3":
        return None
    from cargohold.storage.s3 import S3BlobStore, S3Unavailable

    store = blob_store_from_settings(settings)
    assert isinstance(store, S3BlobStore)
    try:
        store.check()
    except S3Unavailable as exc:
        raise ConfigError(str(exc)) from None
    return store


def build_uploads(
    settings: Settings,
    meta: MetadataStore,
    blobs: BlobDriver,
    access: AccessPolicy,
) -> UploadService:
    """Upload sessions, staging their bytes through the blob driver (services/staging.py)."""
    return UploadService(
        meta,
        blobs,
        UploadStaging(
            meta,
            blobs,
            settings.upload_expiry_seconds,
            settings.s3_inline_upload_bytes if settings.storage_driver == "s3" else 0,
        ),
        access=access,
    )


# -- the rest ---------------------------------------------------------------------------


def _load_extensions(settings: Settings, core: CoreServices) -> dict[str, Extension]:
    """Each extension's enabled module, or its disabled twin, which imports nothing of it."""
    if settings.scanning:
        from cargohold.extensions.scanning import enable as scanning
    else:
        from cargohold.extensions.scanning_disabled import enable as scanning
    if settings.signatures:
        from cargohold.extensions.signatures import enable as signatures
    else:
        from cargohold.extensions.signatures_disabled import enable as signatures
    extensions = [scanning(settings, core), signatures(settings, core)]
    return {ext.name: ext for ext in extensions}


def build_admission(
    settings: Settings, meta: MetadataStore, enabled: list[Extension]
) -> AdmissionService:
    """The admission webhook over the enabled extensions' admission checks."""
    signature = next((e.image_checks.signature for e in enabled if e.image_checks.signature), None)
    return AdmissionService(
        AdmissionRules.of(settings),
        meta.manifests,
        meta.admissions,
        signature,
        [check for e in enabled for check in e.image_checks.other],
    )


def event_sinks(settings: Settings, observed: bool) -> list[EventSink]:
    """Who hears the services' events (services/events.py): the metrics of a server process
    when `metrics` is on (imported only then), else nobody."""
    if not (observed and settings.metrics):
        return []
    from cargohold.metrics.multiproc import ensure_server_dir

    ensure_server_dir()  # before prometheus-client is imported (metrics/multiproc.py)
    from cargohold.metrics.events import MetricsSink

    return [MetricsSink()]


def build_services(settings: Settings, lean: bool = False, observed: bool = False) -> Services:
    """Every service of a process. `lean`: a server or worker process, whose stores are fixed
    for its lifetime (see jobs.queue.open_huey). `observed`: a server process, whose
    services' events its /metrics counts (event_sinks)."""
    events = event_sinks(settings, observed)
    engine = make_engine(settings.metadata_url)
    meta = MetadataStore(engine, settings.gc_grace_seconds)
    blobs = blob_store_from_settings(settings, meta)
    audit = AuditTrail(meta.audit_log, settings.audit_retention_days, time.time)
    # Its thread also writes the audit trail's notes (pulls, logins, denials).
    pulls = PullRecorder(meta.manifests, audit, settings.pull_flush_seconds)
    access = access_policy(settings)
    tag_rules = TagRuleService(meta.tag_rules)
    holds = HoldService(meta.holds)
    uploads = build_uploads(settings, meta, blobs, access)
    space = SpaceReserve(settings.data_dir, settings.disk_reserve_bytes)
    running = RunningImages.of_days(
        meta.admissions, settings.admission_keep_days, settings.admission_history_days
    )
    gc = GarbageCollector(
        meta.blobs,
        meta.repositories,
        meta.listings,
        meta.deletions,
        blobs,
        uploads,
        settings.gc_grace_seconds,
        holds,
        running=running,
        unstored=meta.unstored_images,
        events=events,
    )
    lifecycle = LifecycleService(
        meta.lifecycle_policies,
        meta.repositories,
        meta.listings,
        meta.deletions,
        holds,
        running=running,
        events=events,
    )
    queue = JobQueue(
        open_huey(settings.job_store, settings.metadata_url, settings.data_dir, lean=lean)
    )
    jobs = JobService(meta, queue, gc, lifecycle, audit, events=events)
    jobs.add_schedules(
        settings.gc_schedule,
        settings.gc_schedule_untagged,
        settings.lifecycle_schedule,
        settings.audit_purge_schedule,
    )
    extensions = _load_extensions(settings, CoreServices(engine, meta, blobs, jobs, events))
    enabled = [ext for ext in extensions.values() if ext.enabled]
    for ext in enabled:
        for kind in ext.job_kinds:
            jobs.add_kind(kind)
    registry = RegistryService(
        meta,
        blobs,
        access,
        pulls,
        tag_rules,
        holds,
        audit,
        on_push=[hook for ext in enabled for hook in ext.on_push],
        pull_gates=[gate for ext in enabled for gate in ext.pull_gates],
    )
    return Services(
        settings=settings,
        admission=build_admission(settings, meta, enabled),
        engine=engine,
        meta=meta,
        blobs=blobs,
        registry=registry,
        blob_links=BlobLinkService(meta, access, holds, audit),
        uploads=uploads,
        pulls=pulls,
        listings=RegistryListings(meta, blobs, space),
        lifecycle=lifecycle,
        tag_rules=tag_rules,
        holds=holds,
        gc=gc,
        quotas=QuotaService(meta.quotas),
        storage_report=StorageReportService(meta.accounting, gc),
        analysis=ImageAnalysisService(meta.manifests, blobs, meta.analyses),
        jobs=jobs,
        fsck=BlobConsistencyCheck(meta.blobs, blobs),
        space=space,
        extensions=extensions,
        access=build_access_control(settings, meta.db, audit),
        pull_limits=build_pull_limits(settings, meta.db, registry, time.time),
        audit=audit,
        health=StoreChecks(meta, blobs, queue),
    )
