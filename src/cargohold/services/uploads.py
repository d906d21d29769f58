"""Blob uploads: chunks, digest verification, commit and dedup.

Sessions and their staged bytes are handled by services/staging.py through the blob driver's
writers, so any worker (and after a restart, any process) can continue one. This module turns
request bodies into staged bytes and staged bytes into blobs, in the order of
docs/decisions/005-blob-durability.md.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any

from cargohold.errors import (
    BlobUploadInvalid,
    DigestInvalid,
    RangeInvalid,
    SizeInvalid,
    check_push,
    is_disk_full,
    quota_denied,
)
from cargohold.meta.quotas import QuotaExceeded
from cargohold.meta.store import MetadataStore
from cargohold.meta.uploads import Upload
from cargohold.oci.digests import Hasher, algorithm_of, check_digest, compute, new_hasher
from cargohold.parsing.integers import parse_non_negative
from cargohold.policy.access import AccessPolicy
from cargohold.services.staging import UploadMoved, UploadStaging
from cargohold.storage.base import BlobDriver, BlobWriter, WriterBusy

# Bytes gathered before a write+hash is handed to a thread: large enough that the
# hop costs nothing, small enough to bound memory per upload.
WRITE_BATCH = 256 * 1024
# Monolithic uploads up to this size are read whole and stored in one step (one thread hop
# instead of a staged upload): configs and small layers, most of a small image's requests.
SMALL_BLOB = 256 * 1024


__all__ = ["Upload", "UploadService", "parse_content_range", "range_header"]


def range_header(size: int) -> str:
    """Distribution's `Range` for an upload holding `size` bytes."""
    return f"0-{max(size - 1, 0)}"


def _nothing() -> None:
    return None


class UploadService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobDriver,
        staging: UploadStaging,
        executor: Executor,
        db_executor: Executor,
        access: AccessPolicy,
    ) -> None:
        self.access = access
        self.meta = meta
        self.blobs = blobs
        self.staging = staging
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
        upload: Upload = await self._db(self.staging.start, repository)
        return upload

    def get(self, repository: str, upload_id: str) -> Upload:
        return self.staging.get(repository, upload_id)

    async def cancel(self, upload: Upload) -> None:
        await self._io(self.staging.discard, upload.id)

    def expire_idle(self) -> int:
        """Discard idle sessions and orphaned staged bytes (UploadStaging.expire_idle)."""
        return self.staging.expire_idle()

    # -- writing ----------------------------------------------------------------------

    async def _pump(self, writer: BlobWriter, hasher: Hasher, body: AsyncIterator[bytes]) -> int:
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
        current = self.meta.uploads.get(upload_id)
        return RangeInvalid(
            "another request is writing to this upload",
            headers={"Range": range_header(current.offset if current else 0)},
        )

    async def _hold(self, upload: Upload) -> BlobWriter:
        """The session's staged bytes, exclusively (UploadStaging.hold), or the client's error."""
        try:
            writer: BlobWriter = await self._io(self.staging.hold, upload)
        except WriterBusy:
            raise self._busy(upload.id) from None
        except UploadMoved as moved:
            raise RangeInvalid(
                "another request changed this upload concurrently",
                headers={"Range": range_header(moved.offset)},
            ) from None
        return writer

    async def _running_hash(self, upload: Upload, writer: BlobWriter, algorithm: str) -> Hasher:
        """The cached running hash, or one rebuilt from the staged bytes (another process, a
        restart, or an algorithm other than sha256)."""
        hasher = self.staging.cached_hash(upload, algorithm)
        if hasher is None:
            hasher = await self._io(self.staging.rebuild_hash, upload, writer, algorithm)
        return hasher

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

        The staged bytes are held exclusively from before the offset is checked until after
        the new offset is recorded, so two requests can never write the same bytes; what a
        failed request wrote is cut back to the acknowledged offset.
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
        writer = await self._hold(upload)
        try:
            hasher = await self._running_hash(upload, writer, "sha256")
            written = await self._pump(writer, hasher, body)
            if content_length is not None and written != content_length:
                raise SizeInvalid(f"received {written} bytes, Content-Length said {content_length}")
            new_offset = upload.offset + written
            # Record the offset while still holding the upload, then release it. The final
            # digest check catches the rare write that fails after this point.
            if written and not await self._db(
                self.meta.uploads.advance, upload.id, upload.offset, new_offset
            ):
                raise self._busy(upload.id)
        except BaseException as failure:
            if is_disk_full(failure):
                # The client must push again anyway: give the space back at once.
                self.staging.discard_for_space(upload.id, writer)
            else:
                try:
                    writer.truncate(upload.offset)
                finally:
                    writer.close()
            raise
        writer.close()
        self.staging.hashes.put(upload.id, new_offset, hasher)
        return Upload(upload.id, upload.repository, new_offset, upload.created_at, time.time())

    async def finish(self, upload: Upload, digest: str) -> int:
        """Verify the session's bytes against `digest`, store the blob and link it."""
        check_digest(digest)
        check_push(self.access.push_denied(upload.repository), upload.repository)
        writer = await self._hold(upload)
        try:
            hasher = await self._running_hash(upload, writer, algorithm_of(digest))
            actual = f"{algorithm_of(digest)}:{hasher.hexdigest()}"
            if actual != digest:
                await self._io(self.staging.discard, upload.id, writer)
                raise DigestInvalid(
                    f"uploaded content has digest {actual}, not {digest}; the upload was discarded",
                    detail={"expected": digest, "actual": actual},
                )
            await self._store(
                upload.repository,
                digest,
                upload.offset,
                lambda: writer.commit(digest),
                writer.cancel,
                session=upload.id,
            )
        finally:
            writer.close()  # kept for a retry unless committed or cancelled above
        self.staging.hashes.drop(upload.id)
        return upload.offset

    async def _store(
        self,
        repository: str,
        digest: str,
        size: int,
        write: Callable[[], None],
        drop: Callable[[], None] = _nothing,
        session: str | None = None,
    ) -> None:
        """Link the blob, write its bytes unless they are already durable, mark it stored.

        In that order (docs/decisions/005-blob-durability.md): the link shields the digest
        from garbage collection while the bytes are written, and only the last step lets
        pulls and manifests see the blob, so a crash anywhere leaves no row claiming bytes
        that are not on disk. `drop` gives up the staged bytes when they are not written
        (already stored, or over quota); `session` is the upload session, whose row goes
        with the last step.
        """
        try:
            stored = bool(await self._db(self.meta.blobs.link, repository, digest, size))
        except QuotaExceeded as over:
            await self._io(drop)
            if session is not None:
                await self._io(self.staging.discard, session)
            raise quota_denied(over.project, over.usage, over.adding, over.limit) from None
        await self._io(drop if stored else write)
        if not await self._db(self.meta.blobs.mark_stored, digest, session):
            raise BlobUploadInvalid(
                f"blob {digest} was garbage-collected while it was being stored; push it again",
                detail={"digest": digest},
            )

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
        # Staged under a name no session owns: a crash leaves an orphan that expiry removes.
        writer: BlobWriter = await self._io(self.blobs.writer, uuid.uuid4().hex)
        hasher = new_hasher(algorithm_of(digest))
        try:
            written = await self._pump(writer, hasher, body)
            if content_length is not None and written != content_length:
                raise SizeInvalid(f"received {written} bytes, Content-Length said {content_length}")
            actual = f"{algorithm_of(digest)}:{hasher.hexdigest()}"
            if actual != digest:
                raise DigestInvalid(
                    f"uploaded content has digest {actual}, not {digest}",
                    detail={"expected": digest, "actual": actual},
                )
            await self._store(
                repository, digest, written, lambda: writer.commit(digest), writer.cancel
            )
        except BaseException:
            writer.cancel()  # nothing once committed
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
