"""Upload staging above the blob driver: sessions, acknowledged offsets, running hashes, expiry.

A session is a row in the metadata store (its acknowledged offset moves only by
compare-and-set) plus a staged name in the blob driver holding its bytes. Everything here goes
through the `BlobDriver` interface, so any driver gets resumable uploads: a request takes the
staged bytes exclusively through `driver.writer(id, append=True)`, which also works from another
process or node after a restart; on S3, a small session's bytes are kept in its row instead
(InlineWriter, decision 051). Bytes past the acknowledged offset (a request that failed
mid-body) are cut off before anything else happens. The running hash is cached per process and
rebuilt from the staged bytes where this process has none (docs/decisions/002-upload-sessions.md).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict

from cargohold.errors import BlobUploadUnknown, StagedGone
from cargohold.meta.store import MetadataStore
from cargohold.meta.uploads import Upload
from cargohold.oci.digests import Hasher, new_hasher
from cargohold.services.inline_staging import InlineWriter
from cargohold.storage.base import BlobDriver, BlobWriter, WriterBusy

log = logging.getLogger("cargohold.uploads")

HASH_CACHE_SIZE = 1024


class UploadMoved(Exception):
    """Another request moved (or ended) the session after the caller last read it."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the upload now holds {offset} bytes")
        self.offset = offset


class HashCache:
    """upload id -> (offset, running sha256); a bounded LRU."""

    def __init__(self, capacity: int = HASH_CACHE_SIZE) -> None:
        self._items: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()
        self._capacity = capacity

    def take(self, upload_id: str, offset: int) -> Hasher | None:
        item = self._items.pop(upload_id, None)
        if item is None or item[0] != offset:
            return None
        return item[1]

    def put(self, upload_id: str, offset: int, hasher: Hasher) -> None:
        self._items[upload_id] = (offset, hasher)
        self._items.move_to_end(upload_id)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        self._items.pop(upload_id, None)


class UploadStaging:
    """Upload sessions and their staged bytes. Blocking: callers run it off the event loop."""

    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobDriver,
        expiry_seconds: int,
        inline_max_bytes: int = 0,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.expiry_seconds = expiry_seconds
        # Sessions of at most this many bytes keep them in their row (inline_staging.py).
        self.inline_max_bytes = inline_max_bytes
        self.hashes = HashCache()

    # -- sessions ---------------------------------------------------------------------

    def start(self, repository: str) -> Upload:
        """A new session: its row only. Nothing is staged until bytes arrive (a driver's
        writer of an unknown name starts empty), so opening a session costs the blob store
        nothing; on S3 that is three requests saved per blob (decision 038)."""
        upload_id = uuid.uuid4().hex
        self.meta.uploads.create(upload_id, repository)
        now = time.time()
        return Upload(upload_id, repository, 0, now, now)

    def get(self, repository: str, upload_id: str) -> Upload:
        upload = self.meta.uploads.get(upload_id) if len(upload_id) == 32 else None
        if upload is None or upload.repository != repository:
            raise BlobUploadUnknown(detail={"upload": upload_id[:64]})
        if upload.updated_at < time.time() - self.expiry_seconds:
            self.discard(upload_id)
            raise BlobUploadUnknown(
                "blob upload expired after being idle too long", detail={"upload": upload_id}
            )
        return upload

    def discard(self, upload_id: str, held: BlobWriter | None = None) -> None:
        """End a session: its row first (no session then claims the bytes), then its bytes
        (through `held` when the caller holds them)."""
        self.hashes.drop(upload_id)
        self.meta.uploads.delete(upload_id)
        self._drop_staged(upload_id, held)

    def discard_for_space(self, upload_id: str, held: BlobWriter | None = None) -> None:
        """A write failed for lack of space: the staged bytes go at once (the client must push
        again anyway); the session row goes too if the database can still record that."""
        self.hashes.drop(upload_id)
        self._drop_staged(upload_id, held)
        try:
            self.meta.uploads.delete(upload_id)
        except Exception as exc:
            # Without its staged bytes the session's next use starts it over or discards it.
            log.warning("could not forget upload %s on a full disk: %s", upload_id, exc)

    def _drop_staged(self, name: str, held: BlobWriter | None = None) -> bool:
        """Cancel a staged name; False if another request holds it (it is left for expiry)."""
        if held is not None:
            held.cancel()
            return True
        try:
            self.blobs.writer(name, append=True).cancel()
        except WriterBusy:
            return False
        return True

    def expire_idle(self) -> int:
        """Discard sessions idle past the expiry, and staged bytes no session owns.

        Orphans come from a crash in the middle of a monolithic upload or a blob write; they
        are left alone until they are as old as an expired session.
        """
        cutoff = time.time() - self.expiry_seconds
        expired = self.meta.uploads.expired(cutoff)
        for upload_id in expired:
            self.discard(upload_id)
        removed = len(expired)
        orphans = [name for name, written in self.blobs.staged() if written < cutoff]
        for name in orphans:
            if self.meta.uploads.get(name) is None and self._drop_staged(name):
                removed += 1
        return removed

    # -- holding the staged bytes -----------------------------------------------------

    def hold(self, upload: Upload) -> BlobWriter:
        """The session's staged bytes, held exclusively and cut back to its acknowledged offset.

        WriterBusy if another request holds them; UploadMoved if the offset changed since
        `upload` was read; StagedGone if the bytes are shorter than the offset. A session
        whose bytes are kept in its row (or that has none yet, when sessions may keep them
        there) gets an InlineWriter, held through the row (inline_staging.py).
        """
        if upload.inline or (self.inline_max_bytes and upload.offset == 0):
            inline = InlineWriter.hold(
                self.meta.uploads, self.blobs, upload.id, upload.offset, self.inline_max_bytes
            )
            if inline is not None:
                return inline
            current = self.meta.uploads.get(upload.id)
            if current is None or current.offset != upload.offset:
                raise UploadMoved(current.offset if current else 0)
            raise WriterBusy(upload.id)
        writer = self.blobs.writer(upload.id, append=True)
        try:
            current = self.meta.uploads.get(upload.id)
            if current is None or current.offset != upload.offset:
                raise UploadMoved(current.offset if current else 0)
            if writer.size < upload.offset:
                raise StagedGone(detail={"upload": upload.id})
            if writer.size > upload.offset:
                # A request that failed mid-body wrote these; they are not part of the blob.
                writer.truncate(upload.offset)
        except BaseException as failure:
            try:
                if isinstance(failure, StagedGone):
                    self.discard(upload.id, writer)
            finally:
                writer.close()
            raise
        return writer

    def advance(self, upload: Upload, new_offset: int, writer: BlobWriter) -> bool:
        """Record the held session's new offset, unless another request moved it first; an
        inline session's bytes are recorded with it."""
        if isinstance(writer, InlineWriter):
            return writer.advance(new_offset)
        return self.meta.uploads.advance(upload.id, upload.offset, new_offset)

    def cached_hash(self, upload: Upload, algorithm: str) -> Hasher | None:
        """This process's running hash of the acknowledged bytes, if it has one."""
        cached = self.hashes.take(upload.id, upload.offset)
        return cached if algorithm == "sha256" else None

    def rebuild_hash(self, upload: Upload, writer: BlobWriter, algorithm: str) -> Hasher:
        """The hash of the acknowledged bytes, read back from the held staged bytes."""
        hasher = new_hasher(algorithm)
        for chunk in writer.read(0, upload.offset):
            hasher.update(chunk)
        return hasher
