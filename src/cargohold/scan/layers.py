"""Stream the members of a layer blob: plain, gzip or zstd tar, read once, front to back.

When the layer's digest is known, the bytes are hashed as they stream past and
the digest is compared once the tar stream is done (the rest of the blob is
read first): a damaged or substituted blob is a LayerError, never an inventory
of content nobody pushed. OCI blobs are checked as stored (compressed); the
layers of a `docker save` archive against their diff ID, the digest of the
uncompressed tar.

A tar stream that ends early is read as far as it is whole, as Go's tar reader
(Docker, containerd) reads it: a stream without its end-of-archive blocks, or
without the padding after the last member's data (umoci 0.4.7's `insert` never
closed its tar writer), gives every member and a warning (`warnings`); a stream
that ends inside a member's data or header is a LayerError.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import re
import tarfile
import zlib
from collections.abc import Iterator
from typing import IO, Literal

import zstandard

from cargohold.scan.errors import LayerError
from cargohold.scan.model import LayerRef

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Errors a damaged or truncated blob raises from deep inside the decompressors.
_STREAM_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError)
_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$")
_CHUNK = 1024 * 1024
_BLOCK = tarfile.BLOCKSIZE
_END_OF_ARCHIVE = 2 * _BLOCK  # two zero blocks close a tar stream

# What LayerRef.digest is the digest of: the blob as stored ("blob"), the
# uncompressed tar ("diff_id"), or nothing that can be checked ("none").
Verify = Literal["blob", "diff_id", "none"]


def decompressed(stream: IO[bytes]) -> IO[bytes]:
    """Wrap `stream` in the decompressor its first bytes call for."""
    peekable = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)  # type: ignore[arg-type]
    head = peekable.peek(4)[:4]
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=peekable, mode="rb")  # type: ignore[return-value]
    if head == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(peekable, read_across_frames=True)  # type: ignore[return-value]
    return peekable  # type: ignore[return-value]


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes every byte read through it."""

    def __init__(self, stream: IO[bytes], algorithm: str) -> None:
        super().__init__()
        self._stream = stream
        self.hash = hashlib.new(algorithm)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        self.hash.update(data)
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read, and hash, whatever the tar reader left unread (padding, trailers)."""
        while chunk := self._stream.read(_CHUNK):
            self.hash.update(chunk)


class _Counting(io.RawIOBase):
    """The uncompressed tar stream: counts the bytes read and keeps the last few."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self._stream = stream
        self.count = 0
        self.tail = b""  # the last _END_OF_ARCHIVE + _BLOCK bytes read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        self.count += len(data)
        keep = _END_OF_ARCHIVE + _BLOCK
        self.tail = data[-keep:] if len(data) >= keep else (self.tail + data)[-keep:]
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


class _MemberStream(io.RawIOBase):
    """The content of one tar member; a broken layer stream raises LayerError."""

    def __init__(self, handle: IO[bytes], reader: LayerReader, member: tarfile.TarInfo) -> None:
        super().__init__()
        self._handle = handle
        self._reader = reader
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._handle.read(len(buffer))
        except tarfile.ReadError as exc:  # the stream ended inside this member's data
            raise self._reader.cut_short(self._member, exc) from None
        except _STREAM_ERRORS as exc:
            raise self._reader.failure(exc) from None
        buffer[: len(data)] = data
        return len(data)


class LayerReader:
    """Iterate a layer's tar members and read the content of the current one.

    The digest is checked when `members()` has been iterated to its end.
    """

    def __init__(self, stream: IO[bytes], ref: LayerRef, verify: Verify = "blob") -> None:
        self.ref = ref
        self._stream = stream
        self._hashing: _Hashing | None = None
        self.warnings: list[str] = []  # the stream ended early, but nothing was lost
        match = _DIGEST.match(ref.digest) if verify != "none" else None
        self._expected = match[2] if match else None
        source: IO[bytes] = stream
        if match and verify == "blob":
            source = self._hashing = _Hashing(stream, match[1])  # type: ignore[assignment]
        try:
            content = decompressed(source)
            if match and verify == "diff_id":
                content = self._hashing = _Hashing(content, match[1])  # type: ignore[assignment]
            self._counting = _Counting(content)
            # Closed by close(); the reader is itself the context manager.
            self._tar = tarfile.open(fileobj=self._counting, mode="r|")  # noqa: SIM115
        except _STREAM_ERRORS as exc:
            raise self.failure(exc) from None

    def _name(self) -> str:
        return f"layer {self.ref.index} ({self.ref.digest})"

    def failure(self, exc: BaseException) -> LayerError:
        """The error for a stream that broke: a digest mismatch when that is the cause."""
        with contextlib.suppress(*_STREAM_ERRORS):
            mismatch = self._mismatch()
            if mismatch is not None:
                return mismatch
        return LayerError(
            f"{self._name()} is not a readable tar stream: {type(exc).__name__}: {exc}"
        )

    def _mismatch(self) -> LayerError | None:
        if self._hashing is None or self._expected is None:
            return None
        self._hashing.drain()
        actual = self._hashing.hash.hexdigest()
        if actual == self._expected:
            return None
        return LayerError(
            f"{self._name()} does not match its digest: the content read hashes to "
            f"{self._hashing.hash.name}:{actual}; the blob is damaged or was replaced"
        )

    @property
    def uncompressed_bytes(self) -> int:
        """The bytes of the uncompressed tar stream read so far (all of it, once `members()`
        has been iterated to its end)."""
        return self._counting.count

    def members(self) -> Iterator[tarfile.TarInfo]:
        last: tarfile.TarInfo | None = None
        cut: tarfile.ReadError | None = None
        try:
            try:
                for member in self._tar:
                    last = member
                    yield member
            except tarfile.ReadError as exc:
                if last is None:
                    raise
                cut = exc  # judged below, once the whole stream is read
            self._counting.drain()
            mismatch = self._mismatch()
        except _STREAM_ERRORS as exc:
            raise self.failure(exc) from None
        if mismatch is not None:
            raise mismatch
        if last is not None:
            self._check_end(last, cut)

    def cut_short(self, member: tarfile.TarInfo, exc: tarfile.ReadError) -> LayerError:
        """The error for a stream that ends inside `member`'s data."""
        with contextlib.suppress(*_STREAM_ERRORS):
            self._counting.drain()
            mismatch = self._mismatch()
            if mismatch is not None:
                return mismatch
            total = self._counting.count
            data_end = min(member.offset_data + member.size, self._tar.offset)
            if total < data_end:
                return LayerError(
                    f"{self._name()} is cut short: the data of {member.name} ends at byte "
                    f"{data_end} of the tar stream, which ends at byte {total}"
                )
        return self.failure(exc)

    def _check_end(self, last: tarfile.TarInfo, cut: tarfile.ReadError | None) -> None:
        """After the last member: the end-of-archive blocks, or a warning, or a LayerError."""
        total = self._counting.count
        # Where tarfile expects the next header: after the last member's data as stored
        # (a sparse member stores less than its size says), padded to a block.
        padded_end = self._tar.offset
        data_end = min(last.offset_data + (last.size if last.isreg() else 0), padded_end)
        if total < data_end:
            raise self.cut_short(last, cut or tarfile.ReadError("unexpected end of data"))
        if total >= padded_end + _END_OF_ARCHIVE:
            if cut is not None:  # not an early end after all: something else is wrong
                raise self.failure(cut)
            return
        after = total - padded_end
        if after > 0 and self._counting.tail[-after:].strip(b"\0"):
            raise LayerError(
                f"{self._name()} is cut short: the tar stream ends inside the header of the "
                f"member after {last.name}"
            )
        missing = "the end-of-archive blocks"
        if total < padded_end:
            missing += f" and the padding after its last member ({last.name})"
        self.warnings.append(
            f"layer {self.ref.index}'s tar stream ends without {missing}; "
            "every member was read whole"
        )

    def open(self, member: tarfile.TarInfo) -> IO[bytes]:
        """A forward-only stream of `member`, which must be the member just yielded."""
        try:
            handle = self._tar.extractfile(member)
        except _STREAM_ERRORS as exc:
            raise self.failure(exc) from None
        return io.BufferedReader(_MemberStream(handle or io.BytesIO(), self, member), _CHUNK)

    def read(self, member: tarfile.TarInfo) -> bytes:
        """The content of `member`, which must be the member just yielded."""
        with self.open(member) as stream:
            return stream.read()

    def close(self) -> None:
        with contextlib.suppress(*_STREAM_ERRORS):
            self._tar.close()
        self._stream.close()

    def __enter__(self) -> LayerReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
