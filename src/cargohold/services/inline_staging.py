"""A small upload session's bytes kept in its row of the metadata store, not in the blob store.

Docker, podman and skopeo send every blob as a PATCH followed by an empty `PUT ?digest=`,
and most blobs of an image are small (a config, a few KiB of layer). Staged in S3, each such
PATCH costs several requests to the bucket (a lease, a listing, the tail, its release) and the
PUT as many again; kept in the session's row, the PATCH is one row write (its bytes go with the
new offset, in the same compare-and-set) and the PUT one PUT of the blob at its digest's key.

`InlineWriter` is the `BlobWriter` of such a session (UploadStaging.hold gives it out while the
session's bytes are in its row, or it has none yet). It holds the session through the row
(`held_until`, CLAIM_SECONDS at most, as the bucket's lease does for the bytes staged there),
so a second request on a busy session is refused; the offset's compare-and-set still decides if
a hold ran out. It keeps what a request appends in memory; once the session would hold more
than `limit` bytes, it spills: it takes the session's staged name in the blob driver, writes
the bytes kept so far there, and passes everything on to that writer from then on; so does a
request that adds less than a quarter of what the row would then hold, since each append
rewrites the whole row. `staged()` is what the row keeps when the new offset is recorded: the
bytes, or None once they have spilled (the blob store holds them then). Nothing is written to
the row before that, so a request that fails leaves the session as it was; one that spilled and
failed leaves bytes in the staged name that the next spill cuts off (or expiry removes).
docs/decisions/051-small-uploads-staged-in-the-metadata-store.md tells why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from cargohold.errors import RangeInvalid, StagedGone
from cargohold.meta.uploads import UploadRecords
from cargohold.services.upload_ranges import range_header
from cargohold.storage.base import BlobDriver, BlobWriter, WriterBusy

# How long a request holds an inline session at most (the bucket's lease goes stale after as
# long): longer than a body may stall.
CLAIM_SECONDS = 120.0
# A request keeps a session in its row only while the row's rewrite is at most this many times
# what the request added.
REWRITE_FACTOR = 4


class InlineWriter:
    """The `BlobWriter` of a session whose bytes are kept in its row (see the module)."""

    def __init__(
        self,
        records: UploadRecords,
        blobs: BlobDriver,
        upload_id: str,
        offset: int,
        limit: int,
        held_until: float,
    ) -> None:
        self.name = upload_id
        self._records = records
        self._blobs = blobs
        self._offset = offset  # the acknowledged bytes, kept in the row
        self._limit = limit
        self._held_until: float | None = held_until  # None once the hold ended
        self._kept: bytes | None = b"" if offset == 0 else None  # read from the row when asked
        self._added = bytearray()  # what this request appended, until it spills
        self._spilled: BlobWriter | None = None
        self._done = False

    @classmethod
    def hold(
        cls, records: UploadRecords, blobs: BlobDriver, upload_id: str, offset: int, limit: int
    ) -> InlineWriter | None:
        """The session's writer, held; None if it is not at `offset` or another request holds
        it (the caller tells which)."""
        now = time.time()
        until = now + CLAIM_SECONDS
        if not records.claim(upload_id, offset, now, until):
            return None
        return cls(records, blobs, upload_id, offset, limit, until)

    def advance(self, new_offset: int) -> bool:
        """Record the new offset with the bytes the row keeps (ending the hold), unless
        another request moved the session first."""
        if not self._records.advance(self.name, self._offset, new_offset, self.staged()):
            return False
        self._held_until = None
        return True

    def _acknowledged(self) -> bytes:
        if self._kept is None:
            kept = self._records.staged(self.name)
            if kept is None or len(kept) < self._offset:
                raise StagedGone(detail={"upload": self.name})
            self._kept = kept[: self._offset]
        return self._kept

    def _held(self) -> bytes:
        """The session's bytes as this request leaves them: the row's and what it added."""
        return self._acknowledged() + bytes(self._added)

    @property
    def spilled(self) -> bool:
        return self._spilled is not None

    @property
    def size(self) -> int:
        if self._spilled is not None:
            return self._spilled.size
        return self._offset + len(self._added)

    def write(self, data: bytes) -> None:
        if self._spilled is not None:
            self._spilled.write(data)
            return
        self._added += data
        if self._offset + len(self._added) > self._limit:
            self._spill()

    def _spill(self) -> None:
        """Move the bytes to the session's staged name in the blob driver (RANGE_INVALID if
        another request holds it)."""
        held = self._held()
        try:
            writer = self._blobs.writer(self.name, append=True)
        except WriterBusy:
            # A request whose hold ran out still writes there: this one gives way.
            raise RangeInvalid(
                "another request is writing to this upload",
                headers={"Range": range_header(self._offset)},
            ) from None
        try:
            if writer.size:
                writer.truncate(0)  # what an earlier spill that failed left there
            writer.write(held)
        except BaseException:
            writer.close()
            raise
        self._spilled = writer
        self._added = bytearray()

    def truncate(self, size: int) -> None:
        if self._spilled is not None:
            self._spilled.truncate(size)
            return
        if size < self._offset:
            raise ValueError("an inline session is only cut back to its acknowledged bytes")
        del self._added[size - self._offset :]

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if self._spilled is not None:
            yield from self._spilled.read(start, end)
            return
        end = self.size if end is None else end
        if start < end:
            yield self._held()[start:end]

    def staged(self) -> bytes | None:
        """What the session's row keeps with the new offset: its bytes, or None once they
        spilled to the blob store."""
        return None if self._spilled is not None else self._held()

    def flush(self) -> None:
        # Inline bytes reach the row with the offset that acknowledges them (staged()), all of
        # them each time: a request that adds little to much would make the database rewrite
        # far more than it received (a stream of tiny PATCHes), so such a session moves to
        # the blob store instead.
        if self._spilled is None and self._added and self.size > REWRITE_FACTOR * len(self._added):
            self._spill()
        if self._spilled is not None:
            self._spilled.flush()

    def close(self) -> None:
        if self._spilled is not None:
            self._spilled.close()
        self._added = bytearray()
        if self._held_until is not None and not self._done:
            # Committed or cancelled: the session's row goes (or went) with the blob.
            self._records.release(self.name, self._held_until)
            self._held_until = None

    def commit(self, digest: str) -> None:
        if self._done:
            raise ValueError(f"the writer of upload {self.name} is finished")
        self._done = True
        if self._spilled is not None:
            self._spilled.commit(digest)
            return
        self._blobs.put(digest, self._held())
        self._added = bytearray()

    def cancel(self) -> None:
        # The row goes with the session (UploadStaging.discard); spilled bytes go here.
        self._done = True
        self._added = bytearray()
        if self._spilled is not None:
            self._spilled.cancel()
