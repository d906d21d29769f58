"""Whether the stores a server needs answer: what /readyz asks (api/readiness.py runs each
check on its probe pool, with a timeout)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cargohold.jobs.queue import JobQueue
from cargohold.meta.store import MetadataStore
from cargohold.storage.base import BlobDriver

# A digest no blob has: asking the blob store for its size is a round trip that finds nothing.
PROBE_DIGEST = "sha256:" + "0" * 64


class StoreChecks:
    """One cheap round trip to each store; a check that returns passed, one that raises
    failed."""

    def __init__(self, meta: MetadataStore, blobs: BlobDriver, queue: JobQueue) -> None:
        self.meta = meta
        self.blobs = blobs
        self.queue = queue

    def checks(self) -> Mapping[str, Callable[[], object]]:
        """By the names /readyz reports."""
        return {"metadata": self.metadata, "blobs": self.blob_store, "jobs": self.job_queue}

    def metadata(self) -> object:
        return self.meta.db.one("SELECT 1")

    def blob_store(self) -> object:
        # The driver's own lookup: a file stat on the filesystem, a HEAD on an object store.
        return self.blobs.stat(PROBE_DIGEST)

    def job_queue(self) -> object:
        return self.queue.pending()
