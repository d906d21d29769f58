"""Free space in the data directory, and the reserve that keeps deletes working when it is full.

Deleting is a write too: SQLite appends every change to its write-ahead log before the
database shrinks, so on a disk that pushes filled to the last byte a manifest delete or a
garbage collection fails just like a push. The reserve is a preallocated file of
`disk_reserve_bytes` in the data directory. When a write fails for lack of space it is
released; pushes are then refused (507 DISK_FULL) before they write anything, so the space it
gave back stays for deletes and garbage collection. It is taken again once at least twice its
size is free, so one freed layer does not make the disk flip between full and not full.

The state lives in the filesystem itself (is the file there, at full size?), so every server
process, and every node sharing the directory, sees the same answer without talking.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

RESERVE_NAME = "reserved-space"
# Without a reserve (disk_reserve_bytes = 0), the disk counts as full below this much free.
FULL_WITHOUT_RESERVE = 1024 * 1024
# Below this share of the filesystem free, the disk is reported as low on space.
LOW_FRACTION = 0.05


@dataclass(frozen=True)
class DiskUsage:
    path: str
    total_bytes: int
    free_bytes: int
    reserve_bytes: int
    reserve_held: bool
    full: bool
    low: bool


class SpaceReserve:
    """The data directory's free space and its reserve file (see the module docstring)."""

    def __init__(self, data_dir: str | Path, reserve_bytes: int) -> None:
        self.data_dir = Path(data_dir)
        self.reserve_bytes = reserve_bytes
        self._path = self.data_dir / RESERVE_NAME

    def free_bytes(self) -> tuple[int, int]:
        """(free, total) bytes of the filesystem, as an unprivileged writer sees them."""
        stat = os.statvfs(self.data_dir)
        return stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize

    def held(self) -> bool:
        """Whether the reserve is in place (always, when none is configured)."""
        if self.reserve_bytes == 0:
            return True
        try:
            return self._path.stat().st_size >= self.reserve_bytes
        except FileNotFoundError:
            return False

    def release(self) -> bool:
        """Give the reserve back to the filesystem; True when there was one to give."""
        try:
            self._path.unlink()
        except FileNotFoundError:
            return False
        return True

    def restore(self) -> bool:
        """Take the reserve again when twice its size is free; True when it is held."""
        if self.held():
            return True
        free, _ = self.free_bytes()
        if free < 2 * self.reserve_bytes:
            return False
        # A unique name, then a rename: several processes may restore at the same moment.
        staging = self.data_dir / f".{RESERVE_NAME}-{uuid.uuid4().hex}"
        try:
            fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve_bytes)
            finally:
                os.close(fd)
            os.replace(staging, self._path)
        except OSError:
            with contextlib.suppress(OSError):
                staging.unlink()
            return False
        return True

    def writable(self) -> bool:
        """Whether pushes may write: the reserve is held, or could be taken again.

        Without a reserve, pushes always try (and fail with ENOSPC on a full disk)."""
        return self.held() or self.restore()

    def make_room(self) -> None:
        """Before a delete or a garbage collection: release the reserve if the disk is nearly
        full, so the metadata database has room to record the deletion."""
        if self.reserve_bytes and self.free_bytes()[0] < self.reserve_bytes:
            self.release()

    def usage(self) -> DiskUsage:
        free, total = self.free_bytes()
        held = self.reserve_bytes > 0 and self.held()
        full = not held if self.reserve_bytes else free < FULL_WITHOUT_RESERVE
        return DiskUsage(
            path=str(self.data_dir.resolve()),
            total_bytes=total,
            free_bytes=free,
            reserve_bytes=self.reserve_bytes,
            reserve_held=held,
            full=full,
            low=full or free < max(2 * self.reserve_bytes, int(total * LOW_FRACTION)),
        )
