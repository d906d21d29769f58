"""Consistency check between the metadata store and the blob store (`cargohold fsck`).

Two kinds of damage, both left by versions that linked a blob before writing it, by a
crash of such a version, or by hands in the data directory:
- rows without bytes: the metadata calls a blob stored, the store has no (or a short, or
  with `verify_content` a wrong) object. Repaired by demoting the row: pulls and manifest
  pushes stop relying on it, and the next push of the same bytes writes them again.
- bytes without rows: an object no row describes. Repaired by recording it as garbage and
  sweeping it the way garbage collection does, which is safe against a push of the same
  digest at that moment (docs/decisions/005-blob-durability.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cargohold.meta.blobs import BlobRecords
from cargohold.oci.digests import hashes_to
from cargohold.services.caller import Caller
from cargohold.storage.base import BlobDriver

BATCH = 500
# The reason of the `blob.delete` entry of an orphan a repair deletes.
ORPHAN_REASON = "fsck --repair: stored bytes no row recorded"
# GarbageCollector.sweep_now: deletes recorded garbage safely, each audited under the caller
# with the reason; how many it deleted.
Sweep = Callable[[list[str], Caller, str], int]
# Examples listed in a report; the counts are always complete.
EXAMPLES = 20


@dataclass(frozen=True)
class FsckProblem:
    problem: str  # missing, damaged or orphan
    digest: str
    size: int


@dataclass
class FsckReport:
    repair: bool
    verify_content: bool
    checked_rows: int = 0
    checked_objects: int = 0
    missing: int = 0
    missing_bytes: int = 0
    damaged: int = 0
    orphans: int = 0
    orphan_bytes: int = 0
    repaired: int = 0
    examples: list[FsckProblem] = field(default_factory=list)
    seconds: float = 0.0

    def note(self, problem: str, digest: str, size: int) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(FsckProblem(problem, digest, size))


Progress = Callable[[str, int], None]


class BlobConsistencyCheck:
    def __init__(self, blob_rows: BlobRecords, blobs: BlobDriver) -> None:
        # The blob rows (what the metadata says) and the driver (what is stored).
        self.blob_rows = blob_rows
        self.blobs = blobs

    def _content_matches(self, digest: str) -> bool:
        return hashes_to(digest, self.blobs.get(digest))

    def _problem(self, digest: str, size: int, verify_content: bool) -> str | None:
        stored = self.blobs.stat(digest)
        if stored is None:
            return "missing"
        if stored != size or (verify_content and not self._content_matches(digest)):
            return "damaged"
        return None

    def _check_rows(self, report: FsckReport, progress: Progress | None, caller: Caller) -> None:
        after = ""
        while batch := self.blob_rows.stored(after, BATCH):
            after = batch[-1][0]
            broken: dict[str, str] = {}
            for digest, size in batch:
                problem = self._problem(digest, size, report.verify_content)
                if problem is None:
                    continue
                broken[digest] = problem
                report.note(problem, digest, size)
                if problem == "missing":
                    report.missing += 1
                    report.missing_bytes += size
                else:
                    report.damaged += 1
            report.checked_rows += len(batch)
            if broken and report.repair:
                report.repaired += self.blob_rows.demote(broken, caller.as_actor())
            if progress is not None:
                progress("rows", report.checked_rows)

    def _check_objects(
        self, report: FsckReport, progress: Progress | None, sweep: Sweep, caller: Caller
    ) -> None:
        batch: list[str] = []

        def flush() -> None:
            known = self.blob_rows.known(batch)
            orphans = [(d, self.blobs.stat(d)) for d in batch if d not in known]
            found = [(d, size) for d, size in orphans if size is not None]
            for digest, size in found:
                report.note("orphan", digest, size)
            report.orphans += len(found)
            report.orphan_bytes += sum(size for _, size in found)
            if found and report.repair:
                self.blob_rows.adopt_orphans(found)
                report.repaired += sweep([d for d, _ in found], caller, ORPHAN_REASON)
            report.checked_objects += len(batch)
            batch.clear()
            if progress is not None:
                progress("objects", report.checked_objects)

        for digest in self.blobs.list():
            batch.append(digest)
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()

    def run(
        self,
        repair: bool,
        sweep: Sweep,
        verify_content: bool = False,
        progress: Progress | None = None,
        *,
        caller: Caller,
    ) -> FsckReport:
        """Check every stored row, then every object; with `repair`, fix what is found, each
        repair audited under `caller`.

        `sweep` deletes recorded garbage safely (GarbageCollector.sweep_now) and returns how
        many it deleted.
        """
        started = time.monotonic()
        report = FsckReport(repair=repair, verify_content=verify_content)
        self._check_rows(report, progress, caller)
        self._check_objects(report, progress, sweep, caller)
        report.seconds = round(time.monotonic() - started, 3)
        return report
