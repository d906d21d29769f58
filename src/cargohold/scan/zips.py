"""Zip archives found in a layer (jars, eggs): a zip needs random access and a tar stream
has none, so each is copied, in chunks, into a spool that stays in memory up to
SPOOL_MEMORY bytes and goes to a temporary file beyond, then opened with zipfile."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

SPOOL_MEMORY = 8 * 1024 * 1024
_CHUNK = 1024 * 1024
# What a damaged zip raises from zipfile and the decompressors it drives.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)


@contextmanager
def spooled(stream: IO[bytes]) -> Iterator[IO[bytes]]:
    """A seekable copy of `stream`, at its start (gone when the block ends)."""
    with tempfile.SpooledTemporaryFile(SPOOL_MEMORY) as spool:
        shutil.copyfileobj(stream, spool, _CHUNK)
        spool.seek(0)
        yield spool


def unreadable(exc: BaseException) -> str:
    """What a damaged archive is, as problems say it."""
    return f"not a readable zip archive ({type(exc).__name__}: {exc})"
