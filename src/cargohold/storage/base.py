"""The blob driver interface: what every object store has, and nothing more.

A driver stores whole objects by digest (`put`, `get` with a byte range, `stat`, `delete`,
`list`) and stages uploads through writers. No driver may assume an atomic rename exists: a
writer's `commit` makes the staged bytes appear whole under a digest however the backend can
(fsync and rename on a filesystem, complete-multipart on S3). Upload sessions, offsets and
expiry live above the driver (services/staging.py), so every driver gets resumable uploads by
implementing these few methods; tests/storage/driver_suite.py is what a driver must pass.

The model is distribution's `StorageDriver.Writer(path, append)` / `FileWriter`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable


class WriterBusy(Exception):
    """Another writer holds this staged name right now (in any process)."""


class BlobWriter(Protocol):
    """Exclusive access to one staged name, positioned at its end.

    After `commit` or `cancel` the writer is finished, and `close` does nothing, so a caller
    can always close in a `finally`.
    """

    name: str

    @property
    def size(self) -> int:
        """Bytes staged so far, including those of earlier writers of this name."""
        ...

    def write(self, data: bytes) -> None: ...

    def truncate(self, size: int) -> None:
        """Drop the staged bytes past `size` (no larger than `self.size`); writing goes on there."""
        ...

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Staged bytes [start, end) in chunks, e.g. to rebuild a running hash."""
        ...

    def flush(self) -> None:
        """Make every byte written so far readable by a later writer of this name, on any
        node, even if this process dies next: the staging calls it before it acknowledges
        an offset. (A file's bytes are in the file already; S3 writes its buffered tail.)"""
        ...

    def close(self) -> None:
        """Keep what was staged for a later writer (`append=True`) and release the name."""
        ...

    def commit(self, digest: str) -> None:
        """Make the staged bytes durable and visible, whole, as the object `digest`, replacing
        whatever is stored there; the staged name is gone afterwards."""
        ...

    def cancel(self) -> None:
        """Drop the staged bytes and release the name."""
        ...


class DirectWriter(Protocol):
    """One object written straight to its digest's place while its bytes arrive (a
    monolithic upload whose digest the client gave): invisible until `commit`, which the
    caller calls only after it verified the bytes against the digest; `cancel` otherwise.
    No staged name, no exclusivity: two writers of one digest write the same bytes."""

    digest: str

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None:
        """Make the bytes durable and visible, whole, as the object `digest`, replacing
        whatever is stored there."""
        ...

    def cancel(self) -> None:
        """Drop what was written; nothing becomes visible. Does nothing after commit."""
        ...


class StagedDirectWriter:
    """A `DirectWriter` for a driver whose staging already costs nothing more than a direct
    write would (a file renamed into place): a staged name of its own, committed at the end."""

    def __init__(self, writer: BlobWriter, digest: str) -> None:
        self.digest = digest
        self._writer = writer

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def commit(self) -> None:
        self._writer.commit(self.digest)

    def cancel(self) -> None:
        self._writer.cancel()


class BlobDriver(Protocol):
    name: str

    def put(self, digest: str, data: bytes) -> None:
        """Store a whole object whose digest the caller has verified, durably, in one step.

        Replaces whatever is stored under `digest`: the metadata decides when a write is
        needed (BlobRecords.link), so a damaged or partial object gets rewritten.
        """
        ...

    def get(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes [start, end) of an object in chunks; FileNotFoundError if there is none."""
        ...

    def stat(self, digest: str) -> int | None:
        """Size of the stored object, or None."""
        ...

    def delete(self, digest: str) -> None:
        """Remove the object; nothing happens if there is none."""
        ...

    def delete_many(self, digests: Iterable[str]) -> list[str]:
        """Remove these objects (as `delete`, in as few requests as the store allows); the
        digests that could not be removed, which the caller keeps for a later try."""
        ...

    def list(self) -> Iterator[str]:
        """The digest of every stored object."""
        ...

    def writer(self, name: str, append: bool = False) -> BlobWriter:
        """Hold the staged name `name` exclusively (WriterBusy if another writer has it).

        `append=False` starts it empty; `append=True` continues what earlier writers staged
        and closed (an unknown name starts empty too). Names are letters, digits, `-`, `_`.
        """
        ...

    def staged(self) -> Iterator[tuple[str, float]]:
        """Every staged name with the time (UNIX seconds) it was last written."""
        ...

    def direct_writer(self, digest: str) -> DirectWriter:
        """Write the object `digest` as its bytes arrive (ValueError for an invalid digest);
        see DirectWriter. A crash before `commit` leaves at most what `staged` lists, or what
        the store itself expires (an S3 multipart upload: the bucket's abort rule)."""
        ...


@runtime_checkable
class LocalFiles(Protocol):
    """Optional: a driver whose objects are files the HTTP server can send without copying
    them through Python (sendfile / ASGI pathsend). Checked with isinstance."""

    def path_of(self, digest: str) -> str:
        """Where the object `digest` is, or would be, on the local filesystem."""
        ...


@runtime_checkable
class RedirectURLs(Protocol):
    """Optional: a driver that can send clients to fetch an object from the store directly
    (distribution's `redirect`). Checked with isinstance."""

    def redirect_url(self, digest: str) -> str | None:
        """A URL that serves the object's bytes (ranges too) for a while, signed without a
        request to the store; None when redirects are turned off."""
        ...
