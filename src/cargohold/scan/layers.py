"""Stream the members of a layer blob: plain, gzip or zstd tar, read once, front to back."""

from __future__ import annotations

import contextlib
import gzip
import io
import tarfile
import zlib
from collections.abc import Iterator
from typing import IO

import zstandard

from cargohold.scan.errors import LayerError
from cargohold.scan.model import LayerRef

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Errors a damaged or truncated blob raises from deep inside the decompressors.
_STREAM_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError)


def decompressed(stream: IO[bytes]) -> IO[bytes]:
    """Wrap `stream` in the decompressor its first bytes call for."""
    peekable = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)  # type: ignore[arg-type]
    head = peekable.peek(4)[:4]
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=peekable, mode="rb")  # type: ignore[return-value]
    if head == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(peekable, read_across_frames=True)  # type: ignore[return-value]
    return peekable  # type: ignore[return-value]


class LayerReader:
    """Iterate a layer's tar members and read the content of the current one."""

    def __init__(self, stream: IO[bytes], ref: LayerRef) -> None:
        self.ref = ref
        self._stream = stream
        try:
            # Closed by close(); the reader is itself the context manager.
            self._tar = tarfile.open(fileobj=decompressed(stream), mode="r|")  # noqa: SIM115
        except _STREAM_ERRORS as exc:
            raise self._error(exc) from None

    def _error(self, exc: BaseException) -> LayerError:
        return LayerError(
            f"layer {self.ref.index} ({self.ref.digest}) is not a readable tar stream: "
            f"{type(exc).__name__}: {exc}"
        )

    def members(self) -> Iterator[tarfile.TarInfo]:
        try:
            yield from self._tar
        except _STREAM_ERRORS as exc:
            raise self._error(exc) from None

    def read(self, member: tarfile.TarInfo) -> bytes:
        """The content of `member`, which must be the member just yielded."""
        try:
            handle = self._tar.extractfile(member)
            return handle.read() if handle else b""
        except _STREAM_ERRORS as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        with contextlib.suppress(*_STREAM_ERRORS):
            self._tar.close()
        self._stream.close()

    def __enter__(self) -> LayerReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
