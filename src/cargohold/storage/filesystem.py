"""Filesystem blob store: write to a staging file, fsync, rename into place.

Layout under the root: `blobs/<algorithm>/<first two hex>/<hex>` and
`uploads/<upload id>`. Paths are built only from validated digests and
server-generated upload ids, never from repository names.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cargohold.oci.digests import is_valid_digest
from cargohold.storage.base import UploadBusy
from cargohold.storage.writeback import start_writeback

CHUNK = 1024 * 1024
# Writes at least this large start their writeback at once (see writeback.py).
WRITEBACK_MIN = 256 * 1024
_UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock_exclusive(file: BinaryIO) -> None:
    """A non-blocking exclusive lock; the kernel drops it if the process dies."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise UploadBusy("another request is writing to this upload") from None


class FileUploadWriter:
    def __init__(self, path: Path, offset: int) -> None:
        self._file = open(path, "r+b")  # noqa: SIM115 - closed in close()/abort()
        _lock_exclusive(self._file)
        self._file.seek(offset)
        self._start = offset

    def write(self, data: bytes) -> None:
        start = self._file.tell()
        self._file.write(data)
        if len(data) >= WRITEBACK_MIN:
            self._file.flush()
            start_writeback(self._file.fileno(), start, len(data))

    def close(self) -> int:
        # Bytes beyond this point come from an earlier interrupted request: drop them.
        size = self._file.tell()
        self._file.truncate(size)
        self._file.close()
        return size

    def abort(self) -> None:
        # What a failed request wrote (a full disk, a client gone) is not part of the upload:
        # give the space back now rather than when the session expires.
        try:
            self._file.truncate(self._start)
        finally:
            self._file.close()


class FilesystemBlobStore:
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

    def _upload_path(self, upload_id: str) -> Path:
        if not _UPLOAD_ID_RE.fullmatch(upload_id):
            raise ValueError(f"invalid upload id {upload_id!r}")
        return self._uploads / upload_id

    def stat(self, digest: str) -> int | None:
        try:
            return self._blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def local_path(self, digest: str) -> str | None:
        return str(self._blob_path(digest))

    def read(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with open(self._blob_path(digest), "rb") as f:
            f.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                chunk = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

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

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._blob_path(digest).unlink()

    def list_digests(self) -> Iterator[str]:
        for algorithm_dir in sorted(self._blobs.iterdir()):
            for prefix in sorted(algorithm_dir.iterdir()):
                for blob in sorted(prefix.iterdir()):
                    yield f"{algorithm_dir.name}:{blob.name}"

    def start_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).touch(exist_ok=False)

    def upload_writer(self, upload_id: str, offset: int) -> FileUploadWriter:
        path = self._upload_path(upload_id)
        if not path.exists():
            # A session whose staging file vanished (a crash before it was created) restarts empty.
            path.touch()
        return FileUploadWriter(path, offset)

    def upload_size(self, upload_id: str) -> int | None:
        try:
            return self._upload_path(upload_id).stat().st_size
        except FileNotFoundError:
            return None

    def read_upload(self, upload_id: str, end: int) -> Iterator[bytes]:
        with open(self._upload_path(upload_id), "rb") as f:
            remaining = end
            while remaining > 0:
                chunk = f.read(min(CHUNK, remaining))
                if not chunk:
                    raise OSError(f"upload {upload_id} is shorter than its recorded offset")
                remaining -= len(chunk)
                yield chunk

    def commit_upload(self, upload_id: str, digest: str) -> None:
        # Replaces a file already there (see put): deduplication happens in the metadata,
        # whose callers skip the write when the blob is already stored.
        source = self._upload_path(upload_id)
        target = self._blob_path(digest)
        with open(source, "rb+") as f:
            _lock_exclusive(f)
            os.fsync(f.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        _fsync_dir(target.parent)

    def staged_before(self, cutoff: float) -> Iterator[str]:
        with os.scandir(self._uploads) as entries:
            for entry in entries:
                try:
                    if entry.is_file() and entry.stat().st_mtime < cutoff:
                        yield entry.name
                except FileNotFoundError:
                    continue

    def remove_staged(self, name: str) -> None:
        if "/" in name or name.startswith("."):
            raise ValueError(f"invalid staging name {name!r}")
        with contextlib.suppress(FileNotFoundError):
            (self._uploads / name).unlink()

    def abort_upload(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._upload_path(upload_id).unlink()
