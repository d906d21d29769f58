"""Blob uploads: chunks, digest verification, commit and dedup. Blocking, like every service.

Sessions and their staged bytes are handled by services/staging.py through the blob driver's
writers, so any worker (and after a restart, any process) can continue one. This module turns
request bodies into staged bytes and staged bytes into blobs, in the order of
docs/decisions/005-blob-durability.md. It never sees the event loop: the HTTP layer receives a
body and hands it, a batch at a time, to the `BodyWriter` one of the `begin_*` methods returns
(api/bodies.stream_body), then calls the matching `end_*`, or `abandon` when the body failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

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
from cargohold.policy.access import AccessPolicy
from cargohold.services.inline_staging import InlineWriter
from cargohold.services.staging import UploadMoved, UploadStaging
from cargohold.services.upload_ranges import check_range, parse_content_range, range_header
from cargohold.storage.base import BlobDriver, BlobWriter, DirectWriter, WriterBusy

__all__ = ["BodyWriter", "Upload", "UploadService", "parse_content_range", "range_header"]


def _nothing() -> None:
    return None


@dataclass
class BodyWriter:
    """Where one request body goes: staged bytes held exclusively, and their running hash.

    `write` is called with the body's bytes in order, one call at a time, from any thread.
    `upload` is the session being appended to (`writer` is its staged bytes); None for a
    whole blob whose digest is known, written straight to its place by a `DirectWriter` and
    checked against `digest` at the end. `session` is the empty session such a body closes
    (a `PUT ?digest=`), whose row goes with the blob.
    """

    writer: BlobWriter | DirectWriter
    hasher: Hasher
    content_length: int | None
    upload: Upload | None = None
    repository: str = ""
    digest: str = ""
    written: int = 0
    session: str | None = None

    def write(self, data: bytes) -> None:
        self.hasher.update(data)
        self.writer.write(data)
        self.written += len(data)

    def check_length(self) -> None:
        if self.content_length is not None and self.written != self.content_length:
            raise SizeInvalid(
                f"received {self.written} bytes, Content-Length said {self.content_length}"
            )


class UploadService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobDriver,
        staging: UploadStaging,
        access: AccessPolicy,
    ) -> None:
        self.access = access
        self.meta = meta
        self.blobs = blobs
        self.staging = staging

    # -- sessions ---------------------------------------------------------------------

    def start(self, repository: str) -> Upload:
        check_push(self.access.push_denied(repository), repository)
        return self.staging.start(repository)

    def get(self, repository: str, upload_id: str) -> Upload:
        """The session; BLOB_UPLOAD_UNKNOWN if there is none, or it expired (and is now gone)."""
        return self.staging.get(repository, upload_id)

    def cancel(self, upload: Upload) -> None:
        self.staging.discard(upload.id)

    def expire_idle(self) -> int:
        """Discard idle sessions and orphaned staged bytes (UploadStaging.expire_idle)."""
        return self.staging.expire_idle()

    # -- appending to a session -------------------------------------------------------

    def _busy(self, upload_id: str) -> RangeInvalid:
        current = self.meta.uploads.get(upload_id)
        return RangeInvalid(
            "another request is writing to this upload",
            headers={"Range": range_header(current.offset if current else 0)},
        )

    def _hold(self, upload: Upload) -> BlobWriter:
        """The session's staged bytes, exclusively (UploadStaging.hold), or the client's error."""
        try:
            return self.staging.hold(upload)
        except WriterBusy:
            raise self._busy(upload.id) from None
        except UploadMoved as moved:
            raise RangeInvalid(
                "another request changed this upload concurrently",
                headers={"Range": range_header(moved.offset)},
            ) from None

    def _running_hash(self, upload: Upload, writer: BlobWriter, algorithm: str) -> Hasher:
        """The cached running hash, or one rebuilt from the staged bytes (another process, a
        restart, or an algorithm other than sha256)."""
        hasher = self.staging.cached_hash(upload, algorithm)
        if hasher is None:
            hasher = self.staging.rebuild_hash(upload, writer, algorithm)
        return hasher

    def begin_append(
        self,
        upload: Upload,
        range_start: int | None,
        content_length: int | None,
        range_end: int | None = None,
    ) -> BodyWriter:
        """Start appending one request body to a session (a PATCH, or the body of the closing
        PUT); end_append records it, abandon cuts it back.

        Refused (DENIED) once the repository may no longer be changed.

        The staged bytes are held exclusively from before the offset is checked until after
        the new offset is recorded, so two requests can never write the same bytes; what a
        failed request wrote is cut back to the acknowledged offset.
        """
        check_push(self.access.push_denied(upload.repository), upload.repository)
        check_range(upload, range_start, content_length, range_end)
        writer = self._hold(upload)
        try:
            hasher = self._running_hash(upload, writer, "sha256")
        except BaseException:
            writer.close()
            raise
        return BodyWriter(writer, hasher, content_length, upload=upload)

    def end_append(self, body: BodyWriter) -> Upload:
        """Record what the body appended and let go of the staged bytes: the session as it is
        now."""
        upload = body.upload
        assert upload is not None, "end_append is for a session's body"
        try:
            body.check_length()
            # The bytes must be where any node finds them before the offset says they exist.
            body.writer.flush()
            new_offset = upload.offset + body.written
            # Record the offset while still holding the upload, then release it. The final
            # digest check catches the rare write that fails after this point.
            if body.written and not self.staging.advance(upload, new_offset, body.writer):
                raise self._busy(upload.id)
        except BaseException as failure:
            self.abandon(body, failure)
            raise
        body.writer.close()
        self.staging.hashes.put(upload.id, new_offset, body.hasher)
        inline = isinstance(body.writer, InlineWriter) and not body.writer.spilled
        return Upload(
            upload.id, upload.repository, new_offset, upload.created_at, time.time(), inline
        )

    def abandon(self, body: BodyWriter, failure: BaseException) -> None:
        """The body failed (`failure`): give up what it wrote and let go of the staged bytes."""
        if body.upload is None:
            # A whole blob's bytes belong to no session; a session it was to close stays
            # as it was (empty), so the client can send the PUT again.
            body.writer.cancel()
        elif is_disk_full(failure):
            # The client must push again anyway: give the space back at once.
            self.staging.discard_for_space(body.upload.id, body.writer)
        else:
            try:
                body.writer.truncate(body.upload.offset)
            finally:
                body.writer.close()

    # -- completing ---------------------------------------------------------------------

    def finish(self, upload: Upload, digest: str) -> int:
        """Verify the session's bytes against `digest`, store the blob and link it."""
        check_digest(digest)
        check_push(self.access.push_denied(upload.repository), upload.repository)
        writer = self._hold(upload)
        try:
            hasher = self._running_hash(upload, writer, algorithm_of(digest))
            self._complete(upload, writer, hasher, digest, upload.offset)
        finally:
            writer.close()  # kept for a retry unless committed or cancelled above
        self.staging.hashes.drop(upload.id)
        return upload.offset

    def finish_with(
        self,
        repository: str,
        upload_id: str,
        digest: str,
        data: bytes,
        range_start: int | None = None,
        range_end: int | None = None,
    ) -> int:
        """The closing PUT of a session with a small body received whole: append `data`,
        verify the session's bytes against `digest`, store the blob and link it, in one step.

        What begin_append, end_append and finish do for such a PUT, with the staged bytes
        held once and no offset recorded in between: the session's row goes with the blob's
        `mark_stored`. If the request fails before the blob is stored, the session is left
        as it was before the request (the bytes it wrote are cut off at its next use), so
        the client sends the PUT again, body included.
        """
        check_digest(digest)
        upload = self.staging.get(repository, upload_id)
        check_push(self.access.push_denied(upload.repository), upload.repository)
        check_range(upload, range_start, len(data), range_end)
        if upload.offset == 0:
            # Nothing acknowledged: `data` is the whole blob. Whatever a failed request may
            # have staged is past the offset, not part of it (expiry removes it).
            self.staging.hashes.drop(upload.id)
            return self._put_whole(upload.repository, digest, data, session=upload.id)
        writer = self._hold(upload)
        try:
            hasher = self._running_hash(upload, writer, algorithm_of(digest))
            body = BodyWriter(writer, hasher, len(data))
            try:
                body.write(data)
            except BaseException as failure:
                if is_disk_full(failure):
                    self.staging.discard_for_space(upload.id, writer)
                raise
            size = upload.offset + body.written
            self._complete(upload, writer, body.hasher, digest, size)
        finally:
            writer.close()  # nothing once committed or cancelled
        self.staging.hashes.drop(upload.id)
        return size

    def _complete(
        self, upload: Upload, writer: BlobWriter, hasher: Hasher, digest: str, size: int
    ) -> None:
        """Check the held session's bytes (their hash) against `digest` and store the blob;
        a wrong digest discards the session."""
        actual = f"{algorithm_of(digest)}:{hasher.hexdigest()}"
        if actual != digest:
            self.staging.discard(upload.id, writer)
            raise DigestInvalid(
                f"uploaded content has digest {actual}, not {digest}; the upload was discarded",
                detail={"expected": digest, "actual": actual},
            )
        self._store(
            upload.repository,
            digest,
            size,
            lambda: writer.commit(digest),
            writer.cancel,
            session=upload.id,
        )

    def _store(
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
            stored = self.meta.blobs.link(repository, digest, size)
        except QuotaExceeded as over:
            drop()
            if session is not None:
                self.staging.discard(session)
            raise quota_denied(over.project, over.usage, over.adding, over.limit) from None
        if stored:
            drop()
        else:
            write()
        if not self.meta.blobs.mark_stored(digest, session):
            raise BlobUploadInvalid(
                f"blob {digest} was garbage-collected while it was being stored; push it again",
                detail={"digest": digest},
            )

    # -- a whole blob in one request (`POST ?digest=`) -----------------------------------

    def put_whole(self, repository: str, digest: str, data: bytes) -> int:
        """A small blob received whole: verified in memory and stored in one step, no
        staging (on S3: one PUT at the digest's key)."""
        check_digest(digest)
        check_push(self.access.push_denied(repository), repository)
        return self._put_whole(repository, digest, data)

    def _put_whole(
        self, repository: str, digest: str, data: bytes, session: str | None = None
    ) -> int:
        self._verify(digest, compute(data, algorithm_of(digest)), session)
        self._store(
            repository, digest, len(data), lambda: self.blobs.put(digest, data), session=session
        )
        return len(data)

    def _verify(self, expected: str, actual: str, session: str | None) -> None:
        """DIGEST_INVALID unless the bytes hash to `expected`; a session they were to close
        is discarded with them, as any closing PUT's."""
        if actual == expected:
            return
        message = f"uploaded content has digest {actual}, not {expected}"
        if session is not None:
            self.staging.discard(session)
            message += "; the upload was discarded"
        raise DigestInvalid(message, detail={"expected": expected, "actual": actual})

    def begin_monolithic(
        self, repository: str, digest: str, content_length: int | None
    ) -> BodyWriter:
        """Start writing a whole blob's body straight to its place; end_monolithic verifies
        and commits it."""
        check_digest(digest)
        check_push(self.access.push_denied(repository), repository)
        return self._direct(repository, digest, content_length)

    def _direct(
        self, repository: str, digest: str, content_length: int | None, session: str | None = None
    ) -> BodyWriter:
        return BodyWriter(
            self.blobs.direct_writer(digest),
            new_hasher(algorithm_of(digest)),
            content_length,
            repository=repository,
            digest=digest,
            session=session,
        )

    def begin_closing(
        self,
        upload: Upload,
        digest: str,
        range_start: int | None,
        content_length: int | None,
        range_end: int | None = None,
    ) -> BodyWriter | None:
        """The body of a `PUT ?digest=` that closes `upload`: when nothing was acknowledged
        yet, the body is the whole blob and is written straight to its place like a
        monolithic upload (end_monolithic ends the session with it). None when the session
        holds bytes: the body is appended (begin_append) and the session finished."""
        if upload.offset != 0:
            return None
        check_digest(digest)
        check_push(self.access.push_denied(upload.repository), upload.repository)
        check_range(upload, range_start, content_length, range_end)
        self.staging.hashes.drop(upload.id)
        return self._direct(upload.repository, digest, content_length, session=upload.id)

    def end_monolithic(self, body: BodyWriter) -> int:
        """Verify the body against its digest and store it: the blob's size."""
        writer = cast(DirectWriter, body.writer)
        try:
            body.check_length()
            actual = f"{algorithm_of(body.digest)}:{body.hasher.hexdigest()}"
            self._verify(body.digest, actual, body.session)
            self._store(
                body.repository,
                body.digest,
                body.written,
                writer.commit,
                writer.cancel,
                session=body.session,
            )
        except BaseException:
            writer.cancel()  # nothing once committed
            raise
        return body.written
