"""Filesystem blob driver: write to a staging file, fsync, rename into place.

Layout under the root: `blobs/<algorithm>/<first two hex>/<hex>` and
`uploads/<staged name>`. Paths are built only from validated digests and
staged names that cannot name another directory, never from repository names.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from cargohold.oci.digests import is_valid_digest
from cargohold.storage.base import StagedDirectWriter, WriterBusy
from cargohold.storage.writeback import start_writeback

log = logging.getLogger("cargohold.storage")

CHUNK = 1024 * 1024
# Writes at least this large start their writeback at once (see writeback.py).
WRITEBACK_MIN = 256 * 1024
# No `/`, no leading dot: a staged name is always one plain file in `uploads/`.
_STAGED_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_range(fd: int, start: int, end: int | None) -> Iterator[bytes]:
    position = start
    while end is None or position < end:
        chunk = os.pread(fd, CHUNK if end is None else min(CHUNK, end - position), position)
        if not chunk:
            return
        position += len(chunk)
        yield chunk


class FileWriter:
    """A staged file held with a non-blocking flock, which the kernel drops if the process
    dies; the lock is per open file, so it also keeps two writers of one process apart."""

    def __init__(
        self, name: str, path: Path, blob_path: Callable[[str], Path], append: bool
    ) -> None:
        self.name = name
        self._path = path
        self._blob_path = blob_path
        # No O_TRUNC: emptying the file is the holder's right, decided once the lock is held.
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise WriterBusy(f"another writer holds {name!r}") from None
        # Between our open and our lock, the holder may have committed or cancelled the name:
        # then this file is no longer the staged one, and writing to it would lose the bytes.
        try:
            same = os.stat(path).st_ino == os.fstat(self._fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(self._fd)
            raise WriterBusy(f"{name!r} was committed or cancelled by another writer")
        if not append:
            os.ftruncate(self._fd, 0)
        self._size = os.fstat(self._fd).st_size
        self._done = False

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        start = self._size
        written = 0
        view = memoryview(data)
        while written < len(data):
            written += os.pwrite(self._fd, view[written:], start + written)
        self._size += len(data)
        if len(data) >= WRITEBACK_MIN:
            start_writeback(self._fd, start, len(data))

    def truncate(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"cannot truncate {self._size} staged bytes to {size}")
        os.ftruncate(self._fd, size)
        self._size = size

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        return _read_range(self._fd, start, self._size if end is None else end)

    def flush(self) -> None:
        """Nothing to do: written bytes are in the file, for any later writer to find."""

    def close(self) -> None:
        if not self._done:
            self._done = True
            os.close(self._fd)

    def commit(self, digest: str) -> None:
        # Replaces a file already there (see FilesystemBlobStore.put): deduplication happens
        # in the metadata, whose callers skip the write when the blob is already stored.
        target = self._blob_path(digest)
        os.fsync(self._fd)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path, target)
        self.close()
        _fsync_dir(target.parent)

    def cancel(self) -> None:
        if not self._done:
            # Unlinked while still locked: nobody can take the name in between.
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
            self.close()


class FilesystemBlobStore:
    """The filesystem `BlobDriver`; also `LocalFiles`, so pulls are sent as files."""

    name = "filesystem"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self._uploads = self.root / "uploads"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._uploads.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, digest: str) -> Path:
        if not is_valid_digest(digest):
            raise ValueError(f"invalid digest {digest!r}")
        algorithm, hexpart = digest.split(":", 1)
        return self._blobs / algorithm / hexpart[:2] / hexpart

    def _staged_path(self, name: str) -> Path:
        if not _STAGED_NAME_RE.fullmatch(name):
            raise ValueError(f"invalid staged name {name!r}")
        return self._uploads / name

    def path_of(self, digest: str) -> str:
        return str(self._blob_path(digest))

    def put(self, digest: str, data: bytes) -> None:
        # Always written, even over an existing file: callers write only blobs the metadata
        # does not yet call stored, and a file there may be one a crash or damage left.
        target = self._blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._uploads / f"put-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk must not keep half a blob for a day
            raise
        _fsync_dir(target.parent)

    def get(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self._blob_path(digest)  # validated now, not at the first chunk
        return self._chunks(path, start, end)

    @staticmethod
    def _chunks(path: Path, start: int, end: int | None) -> Iterator[bytes]:
        fd = os.open(path, os.O_RDONLY)
        try:
            yield from _read_range(fd, start, end)
        finally:
            os.close(fd)

    def stat(self, digest: str) -> int | None:
        try:
            return self._blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._blob_path(digest).unlink()

    def delete_many(self, digests: Iterable[str]) -> list[str]:
        failed = []
        for digest in digests:
            try:
                self.delete(digest)
            except OSError as exc:
                log.warning("could not delete blob %s: %s", digest, exc)
                failed.append(digest)
        return failed

    def list(self) -> Iterator[str]:
        for algorithm_dir in sorted(self._blobs.iterdir()):
            for prefix in sorted(algorithm_dir.iterdir()):
                for blob in sorted(prefix.iterdir()):
                    yield f"{algorithm_dir.name}:{blob.name}"

    def writer(self, name: str, append: bool = False) -> FileWriter:
        return FileWriter(name, self._staged_path(name), self._blob_path, append)

    def direct_writer(self, digest: str) -> StagedDirectWriter:
        """A staged file of its own, renamed into place at commit: on a filesystem that is
        what a direct write costs anyway."""
        self._blob_path(digest)  # an invalid digest is refused before anything is written
        return StagedDirectWriter(self.writer(f"direct-{uuid.uuid4().hex}"), digest)

    def staged(self) -> Iterator[tuple[str, float]]:
        with os.scandir(self._uploads) as entries:
            for entry in entries:
                if not _STAGED_NAME_RE.fullmatch(entry.name):
                    continue
                try:
                    if entry.is_file():
                        yield entry.name, entry.stat().st_mtime
                except FileNotFoundError:
                    continue
