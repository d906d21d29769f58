"""Response models for background work: job runs, and the reports of garbage collection and
fsck with the NDJSON events that stream them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.times import UtcTime, utc, utc_or_none
from cargohold.meta.jobs import JobRun as JobRunRow
from cargohold.services.fsck import FsckReport as FsckFacts
from cargohold.services.gc import GcReport as GcFacts


class JobRun(Model):
    id: str
    kind: str
    args: Annotated[dict[str, Any], msgspec.Meta(description="The arguments as submitted")]
    state: Literal["queued", "running", "succeeded", "failed"]
    trigger: Annotated[str, msgspec.Meta(description="api, cli, schedule or push")]
    created_at: UtcTime
    created_by: str
    started_at: UtcTime | None
    finished_at: UtcTime | None
    result: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description="The kind's report once it succeeded: gc, a GcReport; scan, a "
            "ScanJobReport; reevaluate, a ReevaluationReport; vulndb-update, a "
            "VulnDbUpdateReport; lifecycle, {repositories, failures}"
        ),
    ]
    error: Annotated[str | None, msgspec.Meta(description="One line, once it failed")]

    @classmethod
    def of(cls, run: JobRunRow) -> JobRun:
        return cls(
            id=run.id,
            kind=run.kind,
            args=run.args,
            state=run.state,  # type: ignore[arg-type]
            trigger=run.trigger,
            created_at=utc(run.created_at),
            created_by=run.created_by,
            started_at=utc_or_none(run.started_at),
            finished_at=utc_or_none(run.finished_at),
            result=run.result,
            error=run.error,
        )


class JobList(Model):
    jobs: list[JobRun]


class GcReport(Model):
    """What a garbage collection freed (or, in a dry run, would free)."""

    dry_run: bool
    grace_seconds: float
    blobs: int
    bytes: int
    untagged_manifests: Annotated[
        int, msgspec.Meta(description="With untagged=true: untagged manifests removed")
    ]
    uploads_expired: int
    admissions_purged: Annotated[
        int, msgspec.Meta(description="Admission records older than admission_history_days")
    ]
    scan_reports_purged: Annotated[
        int,
        msgspec.Meta(
            description="Scan reports (with their findings) of images no repository stores"
        ),
    ]
    analyses_purged: Annotated[
        int, msgspec.Meta(description="Image analyses of images no repository stores")
    ]
    waiting_blobs: Annotated[
        int, msgspec.Meta(description="Unreferenced blobs kept: pushed within the grace period")
    ]
    waiting_bytes: int
    next_collectable_at: Annotated[
        UtcTime | None, msgspec.Meta(description="When the first waiting blob may go")
    ]
    seconds: float

    @classmethod
    def of(cls, report: GcFacts) -> GcReport:
        return cls(
            dry_run=report.dry_run,
            grace_seconds=report.grace_seconds,
            blobs=report.blobs,
            bytes=report.bytes,
            untagged_manifests=report.untagged_manifests,
            uploads_expired=report.uploads_expired,
            admissions_purged=report.admissions_purged,
            scan_reports_purged=report.scan_reports_purged,
            analyses_purged=report.analyses_purged,
            waiting_blobs=report.waiting_blobs,
            waiting_bytes=report.waiting_bytes,
            next_collectable_at=utc_or_none(report.next_collectable_at),
            seconds=report.seconds,
        )


class FsckExample(Model):
    problem: Literal["missing", "damaged", "orphan"]
    digest: str
    size_bytes: int


class FsckReport(Model):
    """What a check of blob records against stored bytes found (and, with repair, fixed)."""

    repair: bool
    verify_content: bool
    checked_rows: int
    checked_objects: int
    missing: int
    missing_bytes: int
    damaged: int
    orphans: int
    orphan_bytes: int
    repaired: int
    examples: Annotated[
        list[FsckExample], msgspec.Meta(description="Up to 20; the counts are complete")
    ]
    seconds: float

    @classmethod
    def of(cls, report: FsckFacts) -> FsckReport:
        return cls(
            repair=report.repair,
            verify_content=report.verify_content,
            checked_rows=report.checked_rows,
            checked_objects=report.checked_objects,
            missing=report.missing,
            missing_bytes=report.missing_bytes,
            damaged=report.damaged,
            orphans=report.orphans,
            orphan_bytes=report.orphan_bytes,
            repaired=report.repaired,
            examples=[
                FsckExample(problem=e.problem, digest=e.digest, size_bytes=e.size)  # type: ignore[arg-type]
                for e in report.examples
            ],
            seconds=report.seconds,
        )


# The NDJSON lines of /api/v1/gc and /api/v1/fsck: events, then `done` with the report or
# `error` (the status line went out with the first event, so errors travel in-band).


class GcStart(Model, tag_field="event", tag="start"):
    candidates: int
    candidate_bytes: int
    dry_run: bool


class GcProgress(Model, tag_field="event", tag="progress"):
    blobs: int
    bytes: int


class GcDone(Model, tag_field="event", tag="done"):
    report: GcReport


class FsckProgress(Model, tag_field="event", tag="progress"):
    phase: Literal["rows", "objects"]
    checked: int


class FsckDone(Model, tag_field="event", tag="done"):
    report: FsckReport


class StreamError(Model, tag_field="event", tag="error"):
    code: str
    message: str


GcEvent = GcStart | GcProgress | GcDone | StreamError
FsckEvent = FsckProgress | FsckDone | StreamError
