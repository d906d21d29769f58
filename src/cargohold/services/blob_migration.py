"""Copying every stored object from one blob driver to another (`cargohold migrate-storage`).

Driver-generic: the source and the destination are any two `BlobDriver`s. Each object is
hashed while it is copied, and only bytes that hash to their digest are committed at the
destination: a damaged source object is reported by digest and left out. The copy is
resumable because it is idempotent: an object the destination already holds at the right
size is skipped (with `verify_existing`, only once its bytes hash to its digest), and
objects are only ever committed whole, so an interrupted run leaves nothing half-written
under a digest (what a crash leaves of a large object is staging the server's upload expiry
removes, or, on S3, a multipart upload the bucket's abort rule ends).
docs/decisions/032-moving-a-single-node.md tells why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Literal

from cargohold.errors.exception_text import first_line
from cargohold.oci.digests import algorithm_of, hashes_to, new_hasher
from cargohold.storage.base import BlobDriver

# Objects up to this size are read whole and stored in one `put` (one request on S3); larger
# ones stream through a direct writer to their digest (on S3 a multipart upload with a few
# parts in flight), so a run holds at most a few times jobs x this much in memory.
WHOLE_OBJECT_MAX = 8 * 1024 * 1024
# Failures listed in a report; the counts are always complete.
EXAMPLES = 20

Outcome = Literal["copied", "skipped", "gone", "failed"]


class DigestMismatch(Exception):
    """The source's bytes of an object do not hash to its digest."""


@dataclass(frozen=True)
class CopyFailure:
    digest: str
    reason: str


@dataclass
class BlobMigrationReport:
    objects: int = 0
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    # Listed at the source, then deleted there before they were copied (a garbage collection).
    gone: int = 0
    failed: int = 0
    failures: list[CopyFailure] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, outcome: Outcome, size: int, failure: CopyFailure | None) -> None:
        self.objects += 1
        if outcome == "copied":
            self.copied += 1
            self.copied_bytes += size
        elif outcome == "skipped":
            self.skipped += 1
            self.skipped_bytes += size
        elif outcome == "gone":
            self.gone += 1
        else:
            self.failed += 1
            if failure is not None and len(self.failures) < EXAMPLES:
                self.failures.append(failure)


# Called after each object: (digest, outcome, size, failure reason or None).
Progress = Callable[[str, Outcome, int, str | None], None]


class BlobMigration:
    """Copy what `source` stores into `destination` (see the module docstring)."""

    def __init__(self, source: BlobDriver, destination: BlobDriver) -> None:
        self.source = source
        self.destination = destination

    def run(
        self,
        jobs: int = 4,
        verify_existing: bool = False,
        progress: Progress | None = None,
        report: BlobMigrationReport | None = None,
    ) -> BlobMigrationReport:
        """Every object the source lists, `jobs` at a time. Only a listing failure raises;
        an object that cannot be copied is counted and named in the report. `report`, if
        given, is the one filled (a `progress` may read its counts); else a new one."""
        report = report if report is not None else BlobMigrationReport()
        started = time.monotonic()

        def settle(future: Future[tuple[str, Outcome, int, str | None]]) -> None:
            # On this thread only: the copies' threads return their outcomes.
            digest, outcome, size, reason = future.result()
            failure = CopyFailure(digest, reason) if reason is not None else None
            report.add(outcome, size, failure)
            if progress is not None:
                progress(digest, outcome, size, reason)

        pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="migrate")
        try:
            pending: set[Future[tuple[str, Outcome, int, str | None]]] = set()
            for digest in self.source.list():
                # A bounded window of work: listing millions of objects holds no more memory.
                if len(pending) >= jobs * 4:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        settle(future)
                pending.add(pool.submit(self._migrate_one, digest, verify_existing))
            for future in pending:
                settle(future)
        finally:
            # On an interruption (Ctrl-C), the copies under way finish; the queued ones are
            # dropped, to be done by the next run.
            pool.shutdown(wait=True, cancel_futures=True)
        report.seconds = time.monotonic() - started
        return report

    def _migrate_one(
        self, digest: str, verify_existing: bool
    ) -> tuple[str, Outcome, int, str | None]:
        size = 0
        try:
            source_size = self.source.stat(digest)
            if source_size is None:
                return digest, "gone", 0, None
            size = source_size
            if self._already_there(digest, size, verify_existing):
                return digest, "skipped", size, None
            self._copy(digest, size)
            return digest, "copied", size, None
        except FileNotFoundError:
            return digest, "gone", 0, None
        except DigestMismatch as exc:
            return digest, "failed", size, str(exc)
        except Exception as exc:  # any driver's error fails this object only
            return digest, "failed", size, first_line(exc, typed=True)

    def _already_there(self, digest: str, size: int, verify_existing: bool) -> bool:
        if self.destination.stat(digest) != size:
            return False
        return not verify_existing or hashes_to(digest, self.destination.get(digest))

    def _copy(self, digest: str, size: int) -> None:
        hasher = new_hasher(algorithm_of(digest))
        if size <= WHOLE_OBJECT_MAX:
            data = bytearray()
            for chunk in self.source.get(digest):
                hasher.update(chunk)
                data += chunk
            _check(digest, hasher.hexdigest(), len(data), size)
            self.destination.put(digest, bytes(data))
        else:
            # The digest is known: straight to its place (on S3 each byte is written once, no
            # staged chunks copied again at the end), made visible only once it checks out.
            writer = self.destination.direct_writer(digest)
            try:
                copied = 0
                for chunk in self.source.get(digest):
                    hasher.update(chunk)
                    writer.write(chunk)
                    copied += len(chunk)
                _check(digest, hasher.hexdigest(), copied, size)
                writer.commit()
            except BaseException:
                writer.cancel()
                raise
        landed = self.destination.stat(digest)
        if landed != size:
            raise OSError(f"the destination holds {landed} bytes after the copy, not {size}")


def _check(digest: str, hexdigest: str, copied: int, size: int) -> None:
    actual = f"{algorithm_of(digest)}:{hexdigest}"
    if actual != digest:
        raise DigestMismatch(
            f"the source's {copied} bytes hash to {actual}: the stored object is damaged; "
            "not copied"
        )
    if copied != size:
        raise DigestMismatch(f"the source gave {copied} bytes of {size}; not copied")
