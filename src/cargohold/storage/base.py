"""The blob store interface.

Narrow enough for S3: no driver may assume an atomic rename. An upload is
written into a driver-owned staging area and only becomes a blob through
`commit_upload`, which the driver implements however it can make a blob
appear whole (rename on a filesystem, complete-multipart on S3).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class UploadBusy(Exception):
    """Another request is writing or committing this upload right now."""


class UploadWriter(Protocol):
    """Writes the bytes of one request into an upload, starting at a known offset."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> int:
        """Flush and return the upload's new size."""
        ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    name: str

    def stat(self, digest: str) -> int | None:
        """Size of the stored blob, or None."""
        ...

    def local_path(self, digest: str) -> str | None:
        """A file path the HTTP server can send without copying, when the driver has one."""
        ...

    def read(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes [start, end) of a blob in chunks."""
        ...

    def put(self, digest: str, data: bytes) -> None:
        """Store a whole blob whose digest the caller has verified, durably, in one step.

        Replaces whatever is stored under `digest`: the metadata decides when a write is
        needed (MetadataStore.link_blob), so a damaged or partial object gets rewritten.
        """
        ...

    def delete(self, digest: str) -> None: ...

    def list_digests(self) -> Iterator[str]: ...

    def start_upload(self, upload_id: str) -> None: ...

    def upload_writer(self, upload_id: str, offset: int) -> UploadWriter:
        """Exclusive access to an upload from `offset` on; UploadBusy if another request has it."""
        ...

    def upload_size(self, upload_id: str) -> int | None: ...

    def read_upload(self, upload_id: str, end: int) -> Iterator[bytes]:
        """Bytes [0, end) of an upload, to rebuild a hash after a restart."""
        ...

    def commit_upload(self, upload_id: str, digest: str) -> None:
        """Make the upload's bytes durable and visible as blob `digest`, then drop the upload.

        Replaces whatever is stored under `digest`, as `put` does.

        UploadBusy if another request is writing to it.
        """
        ...

    def abort_upload(self, upload_id: str) -> None: ...

    def staged_before(self, cutoff: float) -> Iterator[str]:
        """Names of staging entries last written before `cutoff` (UNIX seconds)."""
        ...

    def remove_staged(self, name: str) -> None:
        """Remove a staging entry named by `staged_before`."""
        ...
