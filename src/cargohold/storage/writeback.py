"""Start writeback of freshly written file ranges early (Linux `sync_file_range`).

A blob is fsynced before it becomes visible. Left alone, the kernel writes a large
upload back only at that fsync, so the client waits for the whole file to reach the
disk after its last byte. Asking for writeback of each range as it is written
overlaps disk writes with receiving, and the final fsync waits only for the tail.
Python's `os` module has no binding for it, hence ctypes; elsewhere it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_SYNC_FILE_RANGE_WRITE = 2


def _load() -> ctypes._NamedFuncPointer | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing [offset, offset+length) of `fd`; never waits for it."""
    if _sync_file_range is not None and length > 0:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
