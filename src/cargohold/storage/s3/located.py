"""A staged upload whose parts go where the blob will stay: no copy at commit (decision 055).

The staged writer (writer.py) keeps a session's chunks as readable objects and copies them to
the digest's key at commit, because a PATCH does not know the digest. That copy costs the
store as much as the upload itself. A located writer sends each chunk as a part of one
multipart upload at a key of its own, `<prefix>located/<name>/<random>` (keys.py), completes
it there at commit and records the digest -> key row (`BlobLocations`); the driver reads the
blob through that row from then on. The bytes after the last part are tail pieces exactly as
in writer.py, and the parts (number, size, ETag) are recorded in the session's `state`
object at each flush, after the tail's new piece and before stale objects go, so a writer on
any node finds every acknowledged byte.

A multipart upload's parts cannot be read back. When the staged bytes must be read (another
process rebuilding the running hash) or cut inside a part (a request that failed after a part
went out), the upload is first completed where it is: it becomes the session's `base`, an
object whose first `used` bytes begin the staged bytes. Writing more after that starts a new
multipart upload whose first parts are ranged copies of the base (the only copy this writer
ever makes, and only after such a read). A request that fails in this process is cut back
from what the writer read when it took the name, without a copy.

Every located object is named by the session's state or by a `blob_locations` row at every
moment: whatever the state named and no row names goes when the session ends (`cancel`, the
commit's cleanup), listed under the name's prefix so a crashed writer's leftovers go too.
A multipart upload never completed is aborted then, or left to the bucket's abort rule.

A closed writer stays parked with its lease for a moment (parked.py, decision 056): the
session's next request in this process takes it as it was, without asking the store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.client import BaseClient

from cargohold.storage.s3.assemble import COPIES_IN_FLIGHT
from cargohold.storage.s3.client import (
    list_objects,
    open_multipart_uploads,
    read_object,
)
from cargohold.storage.s3.inflight import InFlight
from cargohold.storage.s3.keys import CHUNK, STATE, KeyLayout
from cargohold.storage.s3.lease import LeaseLost
from cargohold.storage.s3.locations import BlobLocations
from cargohold.storage.s3.multipart import MultipartUpload
from cargohold.storage.s3.parked import ParkedWriters
from cargohold.storage.s3.writer import (
    MAX_PARTS,
    S3Writer,
    UploadTooLarge,
    part_size,
    tail_bytes,
)

log = logging.getLogger("cargohold.storage.s3")

# S3's smallest part but the last.
MIN_PART_SIZE = 5 * 1024 * 1024
# A commit's tries to point a digest at its object while other commits change the row.
RECORD_ATTEMPTS = 5


class LegacySession(Exception):
    """The session was staged by the copying writer (chunk objects, no state): writer.py
    continues it."""


class LocatedWriter(S3Writer):
    """The `BlobWriter` of the S3 driver when a metadata store keeps blob locations."""

    chunk_objects = False  # they are parts of the multipart upload

    def __init__(
        self,
        client: BaseClient,
        bucket: str,
        layout: KeyLayout,
        name: str,
        append: bool,
        delete_keys: Callable[[list[str]], list[str]],
        executor: ThreadPoolExecutor,
        locations: BlobLocations,
        size_of: Callable[[str], int | None],
        unlocate: Callable[[str], None],
        parked: ParkedWriters[LocatedWriter],
    ) -> None:
        self._locations = locations
        self._parked = parked
        # The size of the object at a key (None: none); forget a digest's row and what it
        # names.
        self._size_of = size_of
        self._unlocate = unlocate
        self._located = layout.located_under(name)
        self._upload: MultipartUpload | None = None
        self._etags: dict[int, str] = {}
        # A completed object whose first `used` bytes begin the staged bytes:
        # (key, used, its size).
        self._base: tuple[str, int, int] | None = None
        self._saved = ""
        # Set while the upload is being completed: a writer that finds it set looks for the
        # completed object (the completing process may have died before saying so).
        self._sealing = False
        # The parts and tail this writer found when it took the name, as far as they still
        # hold the staged bytes, to cut back to without a copy; None after a base.
        self._found: tuple[tuple[tuple[int, int], ...], bytes] | None = ((), b"")
        self._delete_any = delete_keys
        super().__init__(client, bucket, layout, name, append, self._delete_unnamed, executor)

    def _delete_unnamed(self, keys: list[str]) -> list[str]:
        """Delete these keys but the located ones a row names (a blob another session of
        the same digest stored may be one this session once had): what failed."""
        located = [key for key in keys if key.startswith(self._located)]
        named = self._locations.referenced(located) if located else set()
        return self._delete_any([key for key in keys if key not in named])

    # -- the session's state ---------------------------------------------------------------

    def _state(self) -> str:
        upload = self._upload
        return json.dumps(
            {
                "upload": None
                if upload is None
                else {
                    "key": upload.key,
                    "id": upload.upload_id,
                    "parts": [
                        [start, size, self._etags[index]]
                        for index, (start, size) in enumerate(self._chunks)
                    ],
                },
                "base": None if self._base is None else list(self._base),
                **({"sealing": True} if self._sealing else {}),
            },
            separators=(",", ":"),
        )

    def _unsaved(self) -> bool:
        return self._state() != self._saved

    def _save(self) -> None:
        state = self._state()
        if state != self._saved:
            self._client.put_object(
                Bucket=self._bucket, Key=self._session + STATE, Body=state.encode()
            )
            self._saved = state

    def _load(self, append: bool) -> None:
        found = self._listing()
        if not append:
            if not self._drop_located(keep=None):
                raise OSError(f"could not delete what {self.name!r} staged before")
            self._delete_keys([self._session + leaf for leaf in found])
            return
        state: dict[str, Any] = {}
        if STATE in found:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._session + STATE)
            with contextlib.closing(answer["Body"]) as body:
                self._saved = body.read().decode()
            state = json.loads(self._saved)
        elif any(KeyLayout.offset_of(leaf, CHUNK) is not None for leaf in found):
            raise LegacySession(self.name)
        upload = state.get("upload")
        if upload and state.get("sealing") and (size := self._size_of(upload["key"])) is not None:
            # Completed by a process that died before the state said so: the base.
            state = {"upload": None, "base": [upload["key"], size, size]}
        elif upload:
            self._upload = MultipartUpload.resume(
                self._client, self._bucket, upload["key"], upload["id"]
            )
            for index, (start, size, etag) in enumerate(upload["parts"]):
                self._chunks.append((int(start), int(size)))
                self._etags[index] = str(etag)
        if base := state.get("base"):
            self._base = (str(base[0]), int(base[1]), int(base[2]))
        self._load_tail(found, self._chunk_end, {STATE})
        self._remember_found()

    def _remember_found(self) -> None:
        """What a request that fails from here on is cut back to, without a copy: the parts
        and tail as they are stored now (nothing while there is a base)."""
        self._found = None if self._base else (tuple(self._chunks), bytes(self._tail))

    # -- where the parts go -------------------------------------------------------------

    @property
    def _chunk_end(self) -> int:
        if self._base is not None:
            return self._base[1]
        return super()._chunk_end

    def _new_upload(self) -> MultipartUpload:
        upload = MultipartUpload(self._client, self._bucket, self._located + uuid.uuid4().hex[:16])
        upload.create()
        self._upload = upload
        self._etags = {}
        return upload

    def write(self, data: bytes) -> None:
        self._check_open()
        if data and self._base is not None:
            self._rebase()
        if self._upload is None and len(self._tail) + len(data) >= part_size(0):
            self._new_upload()
        super().write(data)

    def _send_chunk(self, index: int, key: str, chunk: bytes) -> object:
        assert self._upload is not None
        return self._upload.upload_part(index + 1, chunk)["ETag"]

    def _chunk_sent(self, index: int, answer: object) -> None:
        self._etags[index] = str(answer)

    def _rebase(self) -> None:
        """Continue after a base: its used bytes become the parts of a new multipart upload,
        copied by the store in part-sized ranges; a last piece too small to be a part is read
        into the tail."""
        assert self._base is not None
        source, used, _ = self._base
        ranges: list[tuple[int, int]] = []
        start = 0
        while used - start >= part_size(len(ranges)):
            ranges.append((start, part_size(len(ranges))))
            start += ranges[-1][1]
        if used - start >= MIN_PART_SIZE:
            ranges.append((start, used - start))
            start = used
        if len(ranges) + 1 >= MAX_PARTS:
            raise UploadTooLarge(f"upload {self.name!r} exceeds S3's {MAX_PARTS} parts")
        front = b"".join(read_object(self._client, self._bucket, source, start, used))
        self._upload = None
        if ranges:
            upload = self._new_upload()
            copies = InFlight(self._executor, COPIES_IN_FLIGHT)
            answers: list[dict[str, Any]] = []
            try:
                for number, (first, size) in enumerate(ranges, start=1):
                    if copies.full:
                        answers.append(copies.wait())
                        self._renew()
                    copies.start(upload.copy_part, number, source, (first, first + size))
                answers += copies.wait_all()
            except BaseException:
                copies.settle()
                upload.abort()
                self._upload = None
                raise
            self._etags = {index: str(answer["ETag"]) for index, answer in enumerate(answers)}
        self._base = None
        self._chunks = ranges
        self._tail[0:0] = front
        self._drop_pieces(0)  # the tail starts elsewhere now: the next flush writes it whole
        self._stale.add(source)
        self._remember_found()

    def _seal(self, save: bool = True) -> None:
        """Complete the multipart upload where it is, with the tail as its last part: it
        becomes the base, recorded at once unless not `save` (a commit: a state that still
        says the upload is being completed leads a retry to the object all the same)."""
        assert self._upload is not None
        parts = [
            {"PartNumber": index + 1, "ETag": self._etags[index]}
            for index in range(len(self._chunks))
        ]
        size = self.size
        if self._tail:
            parts.append(self._upload.upload_part(len(parts) + 1, bytes(self._tail)))
        self._sealing = True
        self._save()
        self._upload.complete(parts)
        self._sealing = False
        self._base = (self._upload.key, size, size)
        self._found = None
        self._upload = None
        self._chunks, self._etags = [], {}
        self._tail = bytearray()
        self._drop_pieces(0)
        if save:
            self._save()

    # -- reading and cutting back -----------------------------------------------------------

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        self._check_open()
        self._await_chunk(raise_error=False)
        if self._chunks:
            self._seal()
        end = self.size if end is None else min(end, self.size)
        return self._read_base(start, end, self._base, bytes(self._tail))

    def _read_base(
        self, start: int, end: int, base: tuple[str, int, int] | None, tail: bytes
    ) -> Iterator[bytes]:
        used = 0 if base is None else base[1]
        if base is not None and start < min(end, used):
            yield from read_object(self._client, self._bucket, base[0], start, min(end, used))
        yield from tail_bytes(tail, used, start, end)

    def truncate(self, size: int) -> None:
        self._check_open()
        self._await_chunk(raise_error=False)
        if not 0 <= size <= self.size:
            raise ValueError(f"cannot truncate {self.size} staged bytes to {size}")
        found = self._found
        if found is not None:
            parts, tail = found
            found_end = parts[-1][0] + parts[-1][1] if parts else 0
            # Bytes past the cut may be written again: the found tail holds only those before.
            self._found = (parts, tail[: max(0, size - found_end)]) if size >= found_end else None
        if size >= self._chunk_end:
            super().truncate(size)
            return
        if (
            found is not None
            and self._base is None
            and tuple(self._chunks[: len(parts)]) == parts
            and found_end <= size <= found_end + len(tail)
        ):
            # Back to what this writer found: its parts, and its tail from memory.
            del self._chunks[len(parts) :]
            self._etags = {i: self._etags[i] for i in range(len(parts))}
            self._tail = bytearray(tail[: size - found_end])
            self._drop_pieces(0)
            return
        if size == 0:
            # Nothing kept: no need to complete anything (the parts are sent again).
            if self._base is not None:
                self._stale.add(self._base[0])
            self._base, self._found = None, None
            self._chunks, self._etags, self._tail = [], {}, bytearray()
            self._drop_pieces(0)
            return
        if self._chunks:
            self._seal()
        assert self._base is not None
        self._base = (self._base[0], size, self._base[2])
        self._tail = bytearray()
        self._drop_pieces(0)

    # -- parked between requests (parked.py) --------------------------------------------

    def _linger(self) -> bool:
        # Not while a completion failed midway: a loader finds out what it did, this writer
        # does not know.
        return not self._sealing and self._parked.park(self)

    def resume(self) -> bool:
        """Take the parked writer up again for a new request; False if its lease lapsed
        meanwhile (the name is another writer's: the caller starts anew)."""
        self._done = False
        try:
            self._renew()
        except LeaseLost:
            return False
        except BaseException:
            self.let_go()
            raise
        self._remember_found()  # every byte was flushed at close
        return True

    def let_go(self) -> None:
        """Release the parked writer's name; a failure leaves the lease to lapse."""
        self._done = True
        try:
            self._lease.release()
        except Exception as exc:
            log.warning("could not release the lease on %r (it lapses): %s", self.name, exc)

    # -- the end ------------------------------------------------------------------------

    def commit(self, digest: str) -> None:
        self._check_open()
        target = self._layout.blob(digest)  # a bad digest changes nothing
        self._await_chunk()
        self._renew(now=True)
        if self._base is not None and (self._tail or self._base[1] != self._base[2]):
            self._rebase()  # the base is not the blob as it is
        keep: str | None = None
        if self._base is None and not self._chunks:
            # Too small for a part: the whole blob at its digest's key.
            self._client.put_object(Bucket=self._bucket, Key=target, Body=bytes(self._tail))
            self._unlocate(digest)
        else:
            if self._base is None:
                self._seal(save=False)  # complete it where it is
            assert self._base is not None
            keep = self._base[0]
            self._renew(now=True)  # still the holder: nobody else may drop what is recorded
            if not self._record(digest, keep):
                keep = None
                # The state stops naming this copy before it goes: a retry finds nothing
                # staged rather than a missing object.
                self._base, self._upload, self._tail = None, None, bytearray()
                self._drop_pieces(0)
                self._save()
        self._end(keep)

    def _record(self, digest: str, key: str) -> bool:
        """Point `digest` at `key`; False if it is stored located already (pushed twice at
        once), whose copy then stays, this one going with the session. A row naming a gone
        object is taken over, only if it still names that one (another commit may too)."""
        other = self._locations.record(digest, key)
        for _ in range(RECORD_ATTEMPTS):
            if other is None:
                return True
            if self._size_of(other) is not None:
                return False
            other = self._locations.record(digest, key, instead_of=other)
        raise OSError(f"the location of {digest} keeps changing; push it again")

    def _drop_session(self, keep: str | None) -> None:
        # Located objects first: the state names them until it goes (and names them still,
        # for expiry to try again, if some could not be deleted).
        if self._drop_located(keep):
            self._drop_all()

    def _drop_located(self, keep: str | None) -> bool:
        """Abort the name's multipart uploads and delete its located objects that no row
        names (but `keep`): whether all of them went."""
        for upload in open_multipart_uploads(self._client, self._bucket, self._located):
            if upload["Key"] != keep:
                MultipartUpload.resume(
                    self._client, self._bucket, upload["Key"], upload["UploadId"]
                ).abort()
        keys = [
            item["Key"]
            for item in list_objects(self._client, self._bucket, self._located)
            if item["Key"] != keep
        ]
        return not self._delete_keys(keys)
