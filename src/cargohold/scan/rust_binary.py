"""Rust binaries built with cargo-auditable: the crates compiled into them.

`cargo auditable build` links a `.dep-v0` section into the executable: the crate graph as
JSON (`{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`,
newer versions add `"format"`), zlib-compressed. Trivy, `cargo audit bin` and syft read it.

Where the section is depends on how it got there: cargo-auditable links it as read-only
data (inside a loadable segment), `objcopy --add-section` appends it after the segments.
Either way the section headers that name it are at the end of the file, too late for a
tar stream that cannot seek back. So the section is found by its content instead, in the
same single pass that looks for Go build info (executables.py): at every zlib header
(0x78 and a valid second byte) a few hundred bytes are inflated on trial, and a stream whose
text starts as cargo-auditable's JSON does is inflated whole (at most MAX_AUDIT_JSON bytes,
twice the 8 MiB cargo-auditable's own reader accepts). Memory stays bounded: a probe's
worth of bytes is kept between chunks.

What is reported (purl type `cargo`, matched in OSV's `crates.io`): every package linked
at run time, not `"kind": "build"` ones (build scripts and proc macros run at build time
and are not in the binary), and not the workspace's own crates (`"source": "local"`), as
a Cargo.lock's path crates are not. A crate from crates.io installed as a binary (`cargo
install ripgrep`) is its own root and is reported.
"""

from __future__ import annotations

import json
import re
import zlib

from cargohold.scan.catalog import PackageRecord, UnreadableFile
from cargohold.scan.purl import cargo_purl

MAX_AUDIT_JSON = 16 * 1024 * 1024
# 0x78 (deflate, 32 KiB window) and the FLG byte of each compression level without a
# preset dictionary: the four headers a zlib stream can start with.
_ZLIB_HEADER = re.compile(rb"\x78[\x01\x5e\x9c\xda]")
# Enough compressed bytes for a dynamic Huffman block's header and the first literals.
_PROBE = 1024
_JSON_STARTS = (b'{"packages":', b'{"format":')
_NOT_IN_BINARY = frozenset({"local"})


def _looks_like_audit_data(probe: bytes) -> bool:
    try:
        text = zlib.decompressobj().decompress(probe, 16)
    except zlib.error:
        return False
    return text.startswith(_JSON_STARTS)


class AuditDataFinder:
    """Fed a file's bytes in order, finds and inflates cargo-auditable's audit data."""

    def __init__(self) -> None:
        self._pending = b""  # bytes that may still hold the start of the stream
        self._inflater: zlib._Decompress | None = None
        self._text = bytearray()
        self.found: bytes | None = None

    def feed(self, chunk: bytes) -> None:
        if self.found is not None or not chunk:
            return
        if self._inflater is not None:
            self._inflate(chunk)
            return
        data = self._pending + chunk
        for match in _ZLIB_HEADER.finditer(data):
            start = match.start()
            if len(data) - start < _PROBE:
                self._pending = data[start:]  # tried again once more bytes are here
                return
            if _looks_like_audit_data(data[start : start + _PROBE]):
                self._pending = b""
                self._inflater = zlib.decompressobj()
                self._inflate(data[start:])
                return
        self._pending = data[-1:]  # a header may straddle two chunks

    def _inflate(self, data: bytes) -> None:
        assert self._inflater is not None
        try:
            self._text += self._inflater.decompress(data, MAX_AUDIT_JSON + 1 - len(self._text))
        except zlib.error as exc:
            raise UnreadableFile(f"damaged cargo-auditable data ({exc})") from None
        if len(self._text) > MAX_AUDIT_JSON:
            raise UnreadableFile(f"cargo-auditable data larger than {MAX_AUDIT_JSON} bytes")
        if self._inflater.eof:
            self.found = bytes(self._text)

    def finish(self) -> bytes | None:
        """The audit data's JSON text, or None when the file holds none."""
        if self.found is None and self._inflater is None:
            for match in _ZLIB_HEADER.finditer(self._pending):
                if _looks_like_audit_data(self._pending[match.start() :]):
                    self._inflater = zlib.decompressobj()
                    self._inflate(self._pending[match.start() :])
                    break
        if self._inflater is not None and self.found is None:
            raise UnreadableFile("cargo-auditable data cut short")
        return self.found


def parse(path: str, text: str) -> list[PackageRecord]:
    """The crates of cargo-auditable's JSON that are compiled into the binary."""
    try:
        document = json.loads(text)
        packages = document["packages"]
        if not isinstance(packages, list):
            raise TypeError("`packages` is not an array")
    except (ValueError, KeyError, TypeError) as exc:
        raise UnreadableFile(f"{path}: unreadable cargo-auditable data ({exc})") from None
    records = []
    for entry in packages:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        if entry.get("kind", "runtime") == "build" or entry.get("source") in _NOT_IN_BINARY:
            continue
        records.append(
            PackageRecord(type="cargo", name=name, version=version, purl=cargo_purl(name, version))
        )
    return list(dict.fromkeys(records))
