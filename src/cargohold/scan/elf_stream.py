"""Reading an ELF file once, front to back, from a stream that cannot seek (a tar member).

The ELF header and program headers lie at the start of the file, so the first bytes say
which byte ranges are loadable segments, which of them writable or executable, and how
virtual addresses map to file offsets. ForwardWindow then holds a bounded window of the
stream, addressed by absolute file offset, that only ever moves forward.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

ELF_MAGIC = b"\x7fELF"
CHUNK = 1024 * 1024  # how much a window reads at a time
_PT_LOAD, _PF_X, _PF_W = 1, 1, 2


@dataclass(frozen=True)
class Segment:
    """A loadable segment (PT_LOAD): where its bytes are in the file and in memory."""

    offset: int
    vaddr: int
    size: int
    writable: bool
    executable: bool

    def file_offset(self, vaddr: int) -> int | None:
        if self.vaddr <= vaddr < self.vaddr + self.size:
            return self.offset + vaddr - self.vaddr
        return None


@dataclass
class ElfLayout:
    """An ELF file's byte order and loadable segments, read from its first bytes."""

    little: bool
    segments: list[Segment]

    def segment_at(self, offset: int) -> Segment | None:
        for segment in self.segments:
            if segment.offset <= offset < segment.offset + segment.size:
                return segment
        return None

    def file_offset(self, vaddr: int) -> int | None:
        for segment in self.segments:
            offset = segment.file_offset(vaddr)
            if offset is not None:
                return offset
        return None


def parse_elf_head(head: bytes) -> ElfLayout | None:
    """The loadable segments of an ELF file, from its first bytes; None if not ELF."""
    if len(head) < 52 or not head.startswith(ELF_MAGIC) or head[4] not in (1, 2):
        return None
    if head[5] not in (1, 2):
        return None
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    try:
        if wide:
            (phoff,) = struct.unpack_from(order + "Q", head, 32)
            entsize, count = struct.unpack_from(order + "HH", head, 54)
            layout, minimum = order + "IIQQQQQQ", 56
        else:
            (phoff,) = struct.unpack_from(order + "I", head, 28)
            entsize, count = struct.unpack_from(order + "HH", head, 42)
            layout, minimum = order + "IIIIIIII", 32
        if entsize < minimum or phoff + entsize * count > len(head):
            return None
        segments = []
        for i in range(count):
            fields = struct.unpack_from(layout, head, phoff + i * entsize)
            if wide:
                kind, flags, offset, vaddr, _, filesz = fields[:6]
            else:
                kind, offset, vaddr, _, filesz, _, flags = fields[:7]
            if kind == _PT_LOAD and filesz > 0:
                segment = Segment(offset, vaddr, filesz, bool(flags & _PF_W), bool(flags & _PF_X))
                segments.append(segment)
    except struct.error:
        return None
    return ElfLayout(head[5] == 1, segments)


class ForwardWindow:
    """A window over a forward-only stream, addressed by absolute file offset."""

    def __init__(self, stream: IO[bytes], head: bytes) -> None:
        self._stream = stream
        self.buffer = bytearray(head)
        self.start = 0
        self.eof = False

    @property
    def end(self) -> int:
        return self.start + len(self.buffer)

    def fill(self, upto: int) -> None:
        while self.end < upto and not self.eof:
            chunk = self._stream.read(min(CHUNK, upto - self.end))
            if not chunk:
                self.eof = True
            self.buffer += chunk

    def get(self, offset: int, size: int) -> bytes:
        """The bytes at [offset, offset + size), shorter at the end of the file."""
        if offset < self.start:
            return b""
        self.fill(offset + size)
        return bytes(self.buffer[offset - self.start : offset - self.start + size])

    def find(self, pattern: bytes, offset: int, end: int | None = None) -> int:
        """The absolute offset of `pattern` within [offset, end) of the window, or -1."""
        stop = len(self.buffer) if end is None else end - self.start
        index = self.buffer.find(pattern, max(offset - self.start, 0), max(stop, 0))
        return -1 if index < 0 else self.start + index

    def drop(self, before: int) -> None:
        if before > self.start:
            del self.buffer[: before - self.start]
            self.start = before
