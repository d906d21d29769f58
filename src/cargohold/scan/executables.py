"""Executables: the packages their build embedded in them, read in one pass per file.

Which files: a binary can be called anything and live anywhere, so every regular file
with an executable mode bit in its tar header is a candidate (as in Trivy); every other
file is skipped unread. A candidate that is not ELF is left after its first bytes.

Each candidate is streamed once, front to back: the Go reader (gobinary.py) looks for the
build info the Go linker embeds, and every byte it reads also passes through the finder of
cargo-auditable's audit data (rust_binary.py). A Go binary stops there; any other ELF file
is read to its end, where a `.dep-v0` section added after the segments would be.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO

from cargohold.scan import gobinary, rust_binary
from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.elf_stream import CHUNK, ELF_MAGIC
from cargohold.scan.model import OSInfo


def wants(path: str) -> bool:
    return False  # chosen by mode, never by name


def wants_file(path: str, mode: int) -> bool:
    return bool(mode & 0o111)


class _Tee:
    """A stream that hands every chunk read from it to `sink` too."""

    def __init__(self, stream: IO[bytes], sink: Callable[[bytes], None]) -> None:
        self._stream = stream
        self._sink = sink
        self.head = b""

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if len(self.head) < len(ELF_MAGIC):
            self.head += data[: len(ELF_MAGIC)]
        self._sink(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def extract(path: str, stream: IO[bytes], size: int) -> bytes | None:
    finder = rust_binary.AuditDataFinder()
    tee = _Tee(stream, finder.feed)
    go = gobinary.read_build_info(tee)
    if go is not None:
        return json.dumps({"go": go[0], "modinfo": go[1]}).encode()
    if not tee.head.startswith(ELF_MAGIC):
        return None
    if finder.found is None:
        tee.drain()
    audit = finder.finish()
    if audit is None:
        return None
    try:
        text = audit.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile("cargo-auditable data is not UTF-8 text") from None
    return json.dumps({"cargoAuditable": text}).encode()


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        summary = json.loads(data)
    except ValueError as exc:
        raise UnreadableFile(f"{path}: damaged build info summary ({exc})") from None
    if isinstance(summary, dict) and isinstance(summary.get("cargoAuditable"), str):
        return rust_binary.parse(path, summary["cargoAuditable"])
    return gobinary.parse(path, data, os)


CATALOGER = Cataloger("binary", wants, parse, extract=extract, wants_file=wants_file)
