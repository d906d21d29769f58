"""Online garbage collection: a database question, answered while the registry serves.

The set of unreferenced blobs is a query (no manifest references them, nobody linked
them within the grace period); it is swept in batches: each batch is re-checked and marked
in one short transaction, its bytes deleted in one batch request to the blob driver with no
lock held, and its rows deleted in a second short transaction. Pushes, pulls and deletes go
on meanwhile: see BlobRecords.sweep for why a blob being pushed while it is swept is never
lost.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cargohold.errors import GcBusy
from cargohold.meta.blobs import BlobRecords
from cargohold.meta.deletions import ManifestDeletions
from cargohold.meta.listings import Listings, ManifestFacts
from cargohold.meta.repositories import RepositoryRecords
from cargohold.meta.unstored_images import UnstoredImageRecords
from cargohold.policy.holds import holding
from cargohold.services.caller import Caller
from cargohold.services.events import EventSink, GcFinished, notify
from cargohold.services.holds import HoldService
from cargohold.services.manifest_graph import ManifestGraph
from cargohold.services.running_images import RunningImages
from cargohold.services.uploads import UploadService
from cargohold.storage.base import BlobDriver

BATCH = 200
# The reason a collected blob's `blob.delete` entry gives.
GC_REASON = "garbage collection: no manifest references it"
# On SQLite every sweep transaction takes the single writer lock; after each batch the
# collector steps aside for as long as the batch took, so pushes waiting for the lock get
# through (measured in bench/gc_under_load.py).
YIELD_FACTOR = 1.0


@dataclass
class GcReport:
    dry_run: bool
    grace_seconds: float
    blobs: int = 0
    bytes: int = 0
    # With untagged=True: untagged manifests nothing tagged needs (or that would be removed).
    untagged_manifests: int = 0
    uploads_expired: int = 0
    # Admission records past admission_history_days, deleted (never in a dry run).
    admissions_purged: int = 0
    # Scan reports (with their findings) and image analyses of images no repository stores,
    # made before the grace period, deleted (never in a dry run).
    scan_reports_purged: int = 0
    analyses_purged: int = 0
    # Unreferenced blobs kept because they were pushed within the grace period, and when
    # the first of them becomes collectable (UNIX seconds; None when there are none).
    waiting_blobs: int = 0
    waiting_bytes: int = 0
    next_collectable_at: float | None = None
    seconds: float = 0.0

    def as_record(self) -> dict[str, object]:
        """The result a `gc` job stores: the admin API's GcReport document (camelCase keys,
        RFC 3339 times; api/models/jobs.py, kept equal by tests/unit/test_api_models.py)."""
        collectable = self.next_collectable_at
        return {
            "dryRun": self.dry_run,
            "graceSeconds": self.grace_seconds,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "untaggedManifests": self.untagged_manifests,
            "uploadsExpired": self.uploads_expired,
            "admissionsPurged": self.admissions_purged,
            "scanReportsPurged": self.scan_reports_purged,
            "analysesPurged": self.analyses_purged,
            "waitingBlobs": self.waiting_blobs,
            "waitingBytes": self.waiting_bytes,
            "nextCollectableAt": None
            if collectable is None
            else dt.datetime.fromtimestamp(collectable, dt.UTC).isoformat().replace("+00:00", "Z"),
            "seconds": self.seconds,
        }


Progress = Callable[[int, int], None]


class GarbageCollector:
    def __init__(
        self,
        blob_rows: BlobRecords,
        repositories: RepositoryRecords,
        listings: Listings,
        deletions: ManifestDeletions,
        blobs: BlobDriver,
        uploads: UploadService,
        grace_seconds: float,
        holds: HoldService,
        *,
        running: RunningImages,
        unstored: UnstoredImageRecords,
        events: Sequence[EventSink] = (),
    ) -> None:
        # The blob rows (what is garbage) and the driver (the bytes); the repositories, their
        # manifests and the untagged delete for a run with `untagged`.
        self.blob_rows = blob_rows
        self.repositories = repositories
        self.listings = listings
        self.deletions = deletions
        self.blobs = blobs
        self.holds = holds
        # What clusters run (the admission webhook's records): never removed as untagged.
        self.running_images = running
        # Scan reports and analyses keyed by a digest no repository stores any more.
        self.unstored = unstored
        # SQLite has one writer: a sweep batch steps aside after holding it (YIELD_FACTOR).
        self._single_writer = blob_rows.db.dialect == "sqlite"
        self.uploads = uploads
        self.grace_seconds = grace_seconds
        # Told of every finished pass (services/events.py); none by default.
        self.events = tuple(events)
        self._running = threading.Lock()

    def count(self, untagged: bool = False) -> tuple[int, int]:
        """How many blobs (and bytes) a run would free right now.

        With `untagged`, also the blobs that removing untagged manifests would free: the
        number a dry run reports and the total a run's progress counts towards.
        """
        cutoff = time.time() - self.grace_seconds
        blobs = total = 0
        after = ""
        while batch := self.blob_rows.garbage(cutoff, after, 5000):
            blobs += len(batch)
            total += sum(size for _, size in batch)
            after = batch[-1][0]
        if untagged:
            _, freed = self._freed_by_untagged(cutoff)
            blobs += len(freed)
            total += sum(freed.values())
        return blobs, total

    def _freed_by_untagged(self, cutoff: float) -> tuple[int, dict[str, int]]:
        """How many untagged manifests are due for removal, and the blobs only they reference
        (digest -> size): what a dry run reports, in one pass over the repositories."""
        held: dict[str, int] = {}
        doomed = 0
        for _, facts in self._untagged_manifests(cutoff):
            doomed += len(facts)
            for fact in facts:
                for kind, digest, _ in fact.references:
                    if kind != "manifest":
                        held[digest] = held.get(digest, 0) + 1
        return doomed, {
            digest: size
            for digest, size, references in self.blob_rows.collectable_references(
                sorted(held), cutoff
            )
            if references == held[digest]
        }

    def _waiting(self, report: GcReport, cutoff: float) -> None:
        """Tell what the grace period keeps: a first run right after pushes frees nothing."""
        waiting = self.blob_rows.in_grace(cutoff)
        report.waiting_blobs = len(waiting)
        report.waiting_bytes = sum(size for size, _ in waiting)
        if waiting:
            report.next_collectable_at = round(
                min(pushed for _, pushed in waiting) + self.grace_seconds, 3
            )

    def sweep_now(self, digests: list[str], caller: Caller, reason: str) -> int:
        """Delete these blobs if they are garbage, the way a run does, each audited under
        `caller` with `reason`; how many were deleted."""
        cutoff = time.time() - self.grace_seconds
        deleted = self.blob_rows.sweep(
            digests, cutoff, self.blobs.delete_many, actor=caller.as_actor(), reason=reason
        )
        return len(deleted)

    @property
    def running(self) -> bool:
        return self._running.locked()

    def _untagged_manifests(self, cutoff: float) -> Iterator[tuple[str, list[ManifestFacts]]]:
        """Per repository, the untagged manifests that no tagged manifest needs.

        Kept: tagged manifests and everything they reach (index children, referrers,
        accessories such as `.sig` tags), held images, images a cluster runs (admitted within
        admission_keep_days), recent pushes, and referrers whose subject is absent (lifecycle
        reports those). An accessory is not kept by its own tag:
        it goes with its image.
        """
        now = time.time()
        last: str | None = None
        while names := self.repositories.catalog(500, last):
            last = names[-1]
            for repository in names:
                facts = self.listings.repository_manifests(repository) or []
                graph = ManifestGraph(facts)
                held = self.holds.active_for(repository)
                running = self.running_images.in_repository(repository, now)
                roots = {
                    f.digest
                    for f in facts
                    if (f.tags and f.digest not in graph.accessory_of)
                    or f.pushed_at >= cutoff
                    or (f.subject_digest is not None and f.subject_digest not in graph.by_digest)
                    or holding(held, repository, f.digest, now) is not None
                    or f.digest in running
                }
                keep = graph.closure(roots)
                doomed = [f for f in facts if f.digest not in keep]
                if doomed:
                    yield repository, doomed

    def _remove_untagged(self, cutoff: float, caller: Caller) -> int:
        """Remove untagged manifests that no tagged manifest needs, older than the grace;
        each removal is audited under `caller`."""
        removed = 0
        actor = caller.as_actor()
        for repository, doomed in self._untagged_manifests(cutoff):
            digests = [f.digest for f in doomed]
            removed += self.deletions.delete_untagged_manifests(
                repository, digests, actor, self.running_images.since(time.time())
            )
        return removed

    def run(
        self,
        dry_run: bool = False,
        progress: Progress | None = None,
        untagged: bool = False,
        *,
        caller: Caller,
    ) -> GcReport:
        """One pass; `progress(blobs, bytes)` is called after every batch.

        With `untagged`, untagged manifests nothing tagged needs go first (a dry run counts
        them and the blobs their removal would free), each removal audited under `caller`
        (whoever asked: an admin request, or a job's submitter or the schedule).
        """
        if not self._running.acquire(blocking=False):
            raise GcBusy("garbage collection is already running on this node")
        try:
            started = time.monotonic()
            actor = caller.as_actor()
            report = GcReport(dry_run=dry_run, grace_seconds=self.grace_seconds)
            if not dry_run:
                report.uploads_expired = self.uploads.expire_idle()
                report.admissions_purged = self.running_images.purge_history(time.time())
            cutoff = time.time() - self.grace_seconds
            if untagged:
                if dry_run:
                    report.untagged_manifests, freed = self._freed_by_untagged(cutoff)
                    report.blobs += len(freed)
                    report.bytes += sum(freed.values())
                else:
                    report.untagged_manifests = self._remove_untagged(cutoff, caller)
            if not dry_run:
                # After the untagged removal, so what it deleted goes in the same run.
                purged = self.unstored.purge(cutoff)
                report.scan_reports_purged = purged.reports
                report.analyses_purged = purged.analyses
            after = ""
            while batch := self.blob_rows.garbage(cutoff, after, BATCH):
                after = batch[-1][0]
                if dry_run:
                    swept = batch
                else:
                    held = time.monotonic()
                    # The bytes go between the sweep's two transactions, no lock held; those
                    # that could not be deleted keep their rows for the next run.
                    swept = self.blob_rows.sweep(
                        [d for d, _ in batch],
                        cutoff,
                        self.blobs.delete_many,
                        actor=actor,
                        reason=GC_REASON,
                    )
                    if self._single_writer:
                        time.sleep((time.monotonic() - held) * YIELD_FACTOR)
                report.blobs += len(swept)
                report.bytes += sum(size for _, size in swept)
                if progress is not None:
                    progress(report.blobs, report.bytes)
            self._waiting(report, cutoff)
            report.seconds = round(time.monotonic() - started, 3)
            notify(
                self.events,
                GcFinished(
                    dry_run,
                    report.blobs,
                    report.bytes,
                    report.untagged_manifests,
                    report.seconds,
                ),
            )
            return report
        finally:
            self._running.release()
