"""Blob uploads: sessions, chunks, digest verification, commit and dedup.

Upload sessions live in the metadata store and their bytes in the blob store's
staging area, so any worker (and after a restart, any process) can continue
one. The running hash is kept in this process as an optimisation only: when a
chunk lands on a process that has no hash for the session's offset, the hash
is rebuilt from the staged bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any

from cargohold.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeInvalid,
    SizeInvalid,
    check_push,
    is_disk_full,
    quota_denied,
)
from cargohold.meta.store import MetadataStore, QuotaExceeded, Upload
from cargohold.oci.digests import Hasher, algorithm_of, check_digest, compute, new_hasher
from cargohold.parsing.integers import parse_non_negative
from cargohold.policy.access import AccessPolicy
from cargohold.storage.base import BlobStore, UploadBusy, UploadWriter

log = logging.getLogger("cargohold.uploads")

# Bytes gathered before a write+hash is handed to a thread: large enough that the
# hop costs nothing, small enough to bound memory per upload.
WRITE_BATCH = 256 * 1024
HASH_CACHE_SIZE = 1024
# Monolithic uploads up to this size are read whole and stored in one step (one thread hop
# instead of a staged upload): configs and small layers, most of a small image's requests.
SMALL_BLOB = 256 * 1024


__all__ = ["Upload", "UploadService", "parse_content_range", "range_header"]


def range_header(size: int) -> str:
    """Distribution's `Range` for an upload holding `size` bytes."""
    return f"0-{max(size - 1, 0)}"


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


class UploadService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        expiry_seconds: int,
        executor: Executor,
        db_executor: Executor,
        access: AccessPolicy,
    ) -> None:
        self.access = access
        self.meta = meta
        self.blobs = blobs
        self.expiry_seconds = expiry_seconds
        self.hashes = HashCache()
        # Blob reads and writes, and metadata writes (see AppContext.db_executor), off the
        # event loop; the caller owns both pools.
        self._executor = executor
        self._db_executor = db_executor

    async def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Metadata writes, off the event loop (see AppContext.db_executor)."""
        return await asyncio.get_running_loop().run_in_executor(self._db_executor, fn, *args)

    # -- sessions ---------------------------------------------------------------------

    async def start(self, repository: str) -> Upload:
        check_push(self.access.push_denied(repository), repository)
        upload_id = uuid.uuid4().hex
        await self._io(self.blobs.start_upload, upload_id)
        try:
            await self._db(self.meta.create_upload, upload_id, repository)
        except BaseException:
            await self._io(self.blobs.abort_upload, upload_id)  # no session owns it
            raise
        now = time.time()
        return Upload(upload_id, repository, 0, now, now)

    def get(self, repository: str, upload_id: str) -> Upload:
        upload = self.meta.get_upload(upload_id) if len(upload_id) == 32 else None
        if upload is None or upload.repository != repository:
            raise BlobUploadUnknown(detail={"upload": upload_id[:64]})
        if upload.updated_at < time.time() - self.expiry_seconds:
            self._discard(upload_id)
            raise BlobUploadUnknown(
                "blob upload expired after being idle too long", detail={"upload": upload_id}
            )
        return upload

    def _discard(self, upload_id: str) -> None:
        self.hashes.drop(upload_id)
        self.blobs.abort_upload(upload_id)
        self.meta.delete_upload(upload_id)

    def _discard_for_space(self, upload_id: str) -> None:
        """A write failed for lack of space: the staged bytes go at once (the client must push
        again anyway); the session row goes too if the database can still record that."""
        self.hashes.drop(upload_id)
        self.blobs.abort_upload(upload_id)
        try:
            self.meta.delete_upload(upload_id)
        except Exception as exc:
            # Without its staged bytes the session's next use starts it over or discards it.
            log.warning("could not forget upload %s on a full disk: %s", upload_id, exc)

    async def cancel(self, upload: Upload) -> None:
        await self._io(self._discard, upload.id)

    def expire_idle(self) -> int:
        """Discard sessions idle past the expiry, and staged bytes no session owns.

        Orphans come from a crash in the middle of a monolithic upload or a blob store
        write; they are left alone until they are as old as an expired session.
        """
        cutoff = time.time() - self.expiry_seconds
        expired = self.meta.expired_uploads(cutoff)
        for upload_id in expired:
            self._discard(upload_id)
        removed = len(expired)
        for name in list(self.blobs.staged_before(cutoff)):
            if self.meta.get_upload(name) is None:
                self.blobs.remove_staged(name)
                removed += 1
        return removed

    # -- writing ----------------------------------------------------------------------

    def _rebuild_hash(self, upload: Upload) -> Hasher:
        hasher = new_hasher("sha256")
        for chunk in self.blobs.read_upload(upload.id, upload.offset):
            hasher.update(chunk)
        return hasher

    async def _pump(self, writer: UploadWriter, hasher: Hasher, body: AsyncIterator[bytes]) -> int:
        """Write the body through `writer` while hashing it; returns the bytes written.

        Writes and hashing run in a thread, one batch in flight while the next is received.
        """

        def write(data: bytes) -> None:
            hasher.update(data)
            writer.write(data)

        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        batched = 0
        written = 0
        loop = asyncio.get_running_loop()
        try:
            async for chunk in body:
                if not chunk:
                    continue
                batch.append(chunk)
                batched += len(chunk)
                if batched >= WRITE_BATCH:
                    data = b"".join(batch)
                    batch, batched = [], 0
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(self._executor, write, data)
                    written += len(data)
            if pending is not None:
                await pending
                pending = None
            if batch:
                data = b"".join(batch)
                await self._io(write, data)
                written += len(data)
        finally:
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
        return written

    def _busy(self, upload_id: str) -> RangeInvalid:
        current = self.meta.get_upload(upload_id)
        return RangeInvalid(
            "another request is writing to this upload",
            headers={"Range": range_header(current.offset if current else 0)},
        )

    async def append(
        self,
        upload: Upload,
        body: AsyncIterator[bytes],
        range_start: int | None,
        content_length: int | None,
        range_end: int | None = None,
    ) -> Upload:
        """Append one request body to a session (a PATCH, or the body of the closing PUT).

        Refused (DENIED) once the repository may no longer be changed.

        The staged file is held exclusively from before the offset is checked until after
        the new offset is recorded, so two requests can never write the same bytes.
        """
        check_push(self.access.push_denied(upload.repository), upload.repository)
        if range_start is not None and range_start != upload.offset:
            raise RangeInvalid(
                f"chunk starts at {range_start}, but the upload holds {upload.offset} bytes",
                headers={"Range": range_header(upload.offset)},
            )
        if range_start is not None and range_end is not None:
            if content_length is not None and range_end - range_start + 1 != content_length:
                raise RangeInvalid(
                    "Content-Range does not match Content-Length",
                    headers={"Range": range_header(upload.offset)},
                )
        try:
            writer: UploadWriter = await self._io(
                self.blobs.upload_writer, upload.id, upload.offset
            )
        except UploadBusy:
            raise self._busy(upload.id) from None
        try:
            current = self.meta.get_upload(upload.id)
            if current is None or current.offset != upload.offset:
                raise RangeInvalid(
                    "another request changed this upload concurrently",
                    headers={"Range": range_header(current.offset if current else 0)},
                )
            hasher = self.hashes.take(upload.id, upload.offset)
            if hasher is None:
                try:
                    hasher = await self._io(self._rebuild_hash, upload)
                except OSError:
                    writer.abort()
                    await self._io(self._discard, upload.id)
                    raise BlobUploadUnknown(
                        "the upload's staged data is gone; start the upload again",
                        detail={"upload": upload.id},
                    ) from None
            written = await self._pump(writer, hasher, body)
            if content_length is not None and written != content_length:
                raise SizeInvalid(f"received {written} bytes, Content-Length said {content_length}")
            new_offset = upload.offset + written
            # Record the offset while still holding the upload, then release it. The final
            # digest check catches the rare write that fails after this point.
            if written and not await self._db(
                self.meta.advance_upload, upload.id, upload.offset, new_offset
            ):
                raise self._busy(upload.id)
            await self._io(writer.close)
        except BaseException as failure:
            writer.abort()
            if is_disk_full(failure):
                await self._io(self._discard_for_space, upload.id)
            raise
        self.hashes.put(upload.id, new_offset, hasher)
        return Upload(upload.id, upload.repository, new_offset, upload.created_at, time.time())

    def _trim_staged(self, upload: Upload) -> None:
        """Drop staged bytes past the recorded offset.

        A request interrupted mid-body (a client gone, a killed worker) can leave bytes
        beyond the offset; they are not part of the blob and must not be committed.
        """
        size = self.blobs.upload_size(upload.id)
        if size is not None and size > upload.offset:
            self.blobs.upload_writer(upload.id, upload.offset).close()

    async def finish(self, upload: Upload, digest: str) -> int:
        """Verify the session's bytes against `digest`, store the blob and link it."""
        check_digest(digest)
        check_push(self.access.push_denied(upload.repository), upload.repository)
        hasher = self.hashes.take(upload.id, upload.offset)
        algorithm = algorithm_of(digest)
        if hasher is None or algorithm != "sha256":

            def rehash() -> Hasher:
                fresh = new_hasher(algorithm)
                for chunk in self.blobs.read_upload(upload.id, upload.offset):
                    fresh.update(chunk)
                return fresh

            try:
                hasher = await self._io(rehash)
            except OSError:
                await self._io(self._discard, upload.id)
                raise BlobUploadUnknown(
                    "the upload's staged data is gone; start the upload again",
                    detail={"upload": upload.id},
                ) from None
        actual = f"{algorithm}:{hasher.hexdigest()}"
        if actual != digest:
            await self._io(self._discard, upload.id)
            raise DigestInvalid(
                f"uploaded content has digest {actual}, not {digest}; the upload was discarded",
                detail={"expected": digest, "actual": actual},
            )
        try:
            await self._io(self._trim_staged, upload)
            await self._store(
                upload.repository,
                digest,
                upload.offset,
                lambda: self.blobs.commit_upload(upload.id, digest),
                staged=upload.id,
                session=upload.id,
            )
        except UploadBusy:
            raise self._busy(upload.id) from None
        self.hashes.drop(upload.id)
        return upload.offset

    async def _store(
        self,
        repository: str,
        digest: str,
        size: int,
        write: Callable[[], None],
        staged: str | None = None,
        session: str | None = None,
    ) -> None:
        """Link the blob, write its bytes unless they are already durable, mark it stored.

        In that order (docs/decisions/005-blob-durability.md): the link shields the digest
        from garbage collection while the bytes are written, and only the last step lets
        pulls and manifests see the blob, so a crash anywhere leaves no row claiming bytes
        that are not on disk. `staged` names the staged bytes, dropped if the blob is already
        stored; `session` is the upload session, whose row goes with the last step.
        """
        if await self._link(repository, digest, size, session):
            if staged is not None:
                await self._io(self.blobs.abort_upload, staged)
        else:
            await self._io(write)
        if not await self._db(self.meta.mark_blob_stored, digest, session):
            raise BlobUploadInvalid(
                f"blob {digest} was garbage-collected while it was being stored; push it again",
                detail={"digest": digest},
            )

    async def _link(self, repository: str, digest: str, size: int, session: str | None) -> bool:
        """Link the blob (within the project's quota); True if its bytes are already stored.

        Over quota, the upload is discarded.
        """
        try:
            return bool(await self._db(self.meta.link_blob, repository, digest, size))
        except QuotaExceeded as over:
            if session is not None:
                await self._io(self._discard, session)
            raise quota_denied(over.project, over.usage, over.adding, over.limit) from None

    @staticmethod
    def _verify(digest: str, data: bytes) -> None:
        actual = compute(data, algorithm_of(digest))
        if actual != digest:
            raise DigestInvalid(
                f"uploaded content has digest {actual}, not {digest}",
                detail={"expected": digest, "actual": actual},
            )

    async def monolithic(
        self,
        repository: str,
        digest: str,
        body: AsyncIterator[bytes],
        content_length: int | None,
    ) -> int:
        """A whole blob in one request (`POST ?digest=`): staged, verified, committed."""
        check_digest(digest)
        check_push(self.access.push_denied(repository), repository)
        if content_length is not None and content_length <= SMALL_BLOB:
            data = b"".join([chunk async for chunk in body])
            if len(data) != content_length:
                raise SizeInvalid(
                    f"received {len(data)} bytes, Content-Length said {content_length}"
                )
            await self._io(self._verify, digest, data)
            await self._store(repository, digest, len(data), lambda: self.blobs.put(digest, data))
            return len(data)
        upload_id = uuid.uuid4().hex
        await self._io(self.blobs.start_upload, upload_id)
        hasher = new_hasher(algorithm_of(digest))
        try:
            writer: UploadWriter = await self._io(self.blobs.upload_writer, upload_id, 0)
            try:
                written = await self._pump(writer, hasher, body)
                await self._io(writer.close)
            except BaseException:
                writer.abort()
                raise
            if content_length is not None and written != content_length:
                raise SizeInvalid(f"received {written} bytes, Content-Length said {content_length}")
            actual = f"{algorithm_of(digest)}:{hasher.hexdigest()}"
            if actual != digest:
                raise DigestInvalid(
                    f"uploaded content has digest {actual}, not {digest}",
                    detail={"expected": digest, "actual": actual},
                )
            await self._store(
                repository,
                digest,
                written,
                lambda: self.blobs.commit_upload(upload_id, digest),
                staged=upload_id,
            )
        except BaseException:
            await self._io(self.blobs.abort_upload, upload_id)
            raise
        return written


def parse_content_range(value: str | None) -> tuple[int, int] | None:
    """`start-end` (distribution's form) or `bytes start-end/total`."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("bytes "):
        text = text[len("bytes ") :].split("/", 1)[0]
    start_text, sep, end_text = text.partition("-")
    try:
        start, end = parse_non_negative(start_text), parse_non_negative(end_text)
    except ValueError:
        start = end = -1
    if not sep or start < 0 or end < start:
        raise BlobUploadInvalid(f"invalid Content-Range {value[:100]!r}")
    return start, end
