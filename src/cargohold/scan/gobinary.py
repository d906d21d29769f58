"""Go binaries: module versions from the build info the Go linker embeds (Go 1.13+).

Which files are read: a Go binary can be called anything and live anywhere
(/app/server, /usr/local/bin/x, /ko-app/...), so it cannot be chosen by name.
Every regular file with an executable mode bit (owner, group or other) in its
tar header is a candidate, as in Trivy (executables.py, which reads each one
once for Go build info and cargo-auditable data alike). A candidate whose first
four bytes are not the ELF magic is left after those bytes. A Go binary stored
without any executable bit cannot run as a program and is not reported.
Windows (PE) and macOS (Mach-O) binaries are out of scope.

How an ELF file is read: once, front to back, in bounded memory (a window of
about a megabyte, plus at most MAX_STRING for a string being captured), never
seeking back; the tar stream itself cannot seek (scan/elf_stream.py: the
program headers and the forward-only window). The program headers (at the
start of the file) say which byte ranges are writable data. The build info is
a 32-byte header starting with `\\xff Go buildinf:`, 16-byte aligned, in a
writable segment (Go's own reader looks in the `.go.buildinfo` section, which
is there; section headers sit at the end of the file, too late for a stream).
- Go 1.18+ ("inline"): the Go version and the module info follow the header
  as varint-prefixed strings, so reading stops right after them.
- Go 1.13-1.17 ("pointer"): the header holds the addresses of two Go string
  headers in the data segment, whose bytes lie in read-only data earlier in
  the file. While streaming, strings that can be one of them are kept by
  address: those starting with `go1.` (64 bytes each, at most MAX_CANDIDATES)
  and module info framed by cmd/go's start and end sentinels; the header's
  addresses pick the right ones once the whole file is read.

What is reported (purl type `golang`): the main module unless its version is
`(devel)` (a build from a source checkout), each `dep` (a dependency replaced
by another module version is reported as that replacement; one replaced by a
local directory keeps the path and version it was required as, the closest
identity it has), and the toolchain as `stdlib` with its version in semver
form (`go1.19.8` -> `1.19.8`, `go1.21rc2` -> `1.21.0-rc.2`), as the Go
vulnerability database names it. Module versions keep their `v` prefix.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from typing import IO

from cargohold.scan.catalog import PackageRecord, UnreadableFile
from cargohold.scan.elf_stream import CHUNK, ElfLayout, ForwardWindow, parse_elf_head
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import golang_purl

BUILDINFO_MAGIC = b"\xff Go buildinf:"
# cmd/go/internal/modload's infoStart and infoEnd, which frame the module info.
INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")
_HEADER_SIZE = 32
_ALIGN = 16
_HEAD = 64 * 1024  # the ELF and program headers must lie within this
MAX_STRING = 4 * 1024 * 1024
MAX_CANDIDATES = 4096
MAX_MODINFO_CANDIDATES = 8
_VERSION_CANDIDATE = b"go1."
_VERSION_CAPTURE = 64
_GO_VERSION = re.compile(r"^go(\d+)\.(\d+)(?:\.(\d+))?(?:(beta|rc)(\d+))?$")


@dataclass
class _Scan:
    elf: ElfLayout
    window: ForwardWindow
    version: str | None = None
    modinfo: str | None = None
    # Pointer format: file offsets of the two string headers, and their bytes once read.
    string_headers: list[int] = field(default_factory=list)
    header_bytes: dict[int, bytes] = field(default_factory=dict)
    pointer_order: str = "<"
    pointer_size: int = 8
    candidates: dict[int, bytes] = field(default_factory=dict)
    modinfo_candidates: int = 0

    @property
    def found(self) -> bool:
        return self.version is not None

    def on_magic(self, offset: int) -> None:
        segment = self.elf.segment_at(offset)
        if segment is None or not segment.writable or self.string_headers or self.found:
            return
        if (segment.vaddr + offset - segment.offset) % _ALIGN:
            return
        header = self.window.get(offset, _HEADER_SIZE)
        if len(header) < _HEADER_SIZE or header[14] not in (4, 8) or header[15] & ~3:
            return
        if header[15] & 2:
            self._inline(offset + _HEADER_SIZE)
            return
        size, order = header[14], ">" if header[15] & 1 else "<"
        pointers = struct.unpack_from(order + ("QQ" if size == 8 else "II"), header, 16)
        offsets = [self.elf.file_offset(p) for p in pointers]
        if None in offsets:
            return
        self.pointer_size, self.pointer_order = size, order
        self.string_headers = [o for o in offsets if o is not None]

    def _inline(self, offset: int) -> None:
        version, offset = self._varint_string(offset)
        modinfo, _ = self._varint_string(offset)
        if version is not None and version.startswith(("go", "devel")):
            self.version, self.modinfo = version, modinfo or ""

    def _varint_string(self, offset: int) -> tuple[str | None, int]:
        length, shift, position = 0, 0, offset
        for byte in self.window.get(offset, 10):
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            return None, offset
        if length > MAX_STRING:
            return None, offset
        data = self.window.get(position, length)
        if len(data) < length:
            return None, offset
        return data.decode("utf-8", "replace"), position + length

    def on_version_candidate(self, offset: int) -> None:
        if len(self.candidates) < MAX_CANDIDATES:
            self.candidates[offset] = self.window.get(offset, _VERSION_CAPTURE)

    def on_modinfo_candidate(self, offset: int) -> None:
        if self.modinfo_candidates >= MAX_MODINFO_CANDIDATES:
            return
        body = offset + len(INFO_START)
        while True:
            end = self.window.find(INFO_END, body)
            if end >= 0 or self.window.eof or self.window.end - offset >= MAX_STRING:
                break
            self.window.fill(self.window.end + CHUNK)
        if 0 <= end - offset < MAX_STRING:
            self.modinfo_candidates += 1
            self.candidates[offset] = self.window.get(offset, end + len(INFO_END) - offset)

    def pending_headers(self) -> list[int]:
        """Pointer format: string headers not read yet, and not passed by already."""
        return [
            o for o in self.string_headers if o not in self.header_bytes and o >= self.window.start
        ]

    def capture_string_headers(self) -> None:
        size = 2 * self.pointer_size
        for offset in self.pending_headers():
            if offset + size <= self.window.end:
                self.header_bytes[offset] = self.window.get(offset, size)

    def resolve_pointers(self) -> None:
        """Pointer format: look the two strings up among the candidates kept."""
        if not self.string_headers:
            return
        strings = []
        for offset in self.string_headers:
            header = self.header_bytes.get(offset)
            if header is None:
                return
            fmt = self.pointer_order + ("QQ" if self.pointer_size == 8 else "II")
            address, length = struct.unpack(fmt, header)
            start = self.elf.file_offset(address)
            candidate = self.candidates.get(start) if start is not None else None
            strings.append(
                candidate[:length].decode("utf-8", "replace")
                if candidate is not None and len(candidate) >= length
                else None
            )
        version, modinfo = strings
        if version:
            self.version, self.modinfo = version, modinfo or ""


_PATTERNS = (BUILDINFO_MAGIC, _VERSION_CANDIDATE, INFO_START)


def _search_ranges(elf: ElfLayout) -> dict[bytes, list[tuple[int, int]]]:
    """Where each pattern can be: build info in writable data; the strings a pointer-format
    build info points to in read-only data (in the text segment only for old linkers that
    put read-only data there)."""
    readonly = [s for s in elf.segments if not s.writable]
    data = [s for s in readonly if not s.executable] or readonly
    strings = sorted((s.offset, s.offset + s.size) for s in data)
    return {
        BUILDINFO_MAGIC: sorted((s.offset, s.offset + s.size) for s in elf.segments if s.writable),
        _VERSION_CANDIDATE: strings,
        INFO_START: strings,
    }


def read_build_info(stream: IO[bytes]) -> tuple[str, str] | None:
    """(Go version, module info without its framing) of a Go ELF binary, or None."""
    head = stream.read(_HEAD)
    elf = parse_elf_head(head)
    if elf is None or not elf.segments:
        return None
    limit = max(s.offset + s.size for s in elf.segments)
    scan = _Scan(elf, ForwardWindow(stream, head))
    window = scan.window
    handlers = {
        BUILDINFO_MAGIC: scan.on_magic,
        _VERSION_CANDIDATE: scan.on_version_candidate,
        INFO_START: scan.on_modinfo_candidate,
    }
    ranges = _search_ranges(elf)
    next_from = dict.fromkeys(_PATTERNS, 0)
    while not scan.found:
        window.fill(min(window.end + CHUNK, limit))
        scan.capture_string_headers()
        for pattern in _PATTERNS:
            for start, end in ranges[pattern]:
                if end <= next_from[pattern] or start >= window.end:
                    continue
                offset = window.find(pattern, max(start, next_from[pattern]), end)
                while offset >= 0 and not scan.found:
                    handlers[pattern](offset)
                    offset = window.find(pattern, offset + 1, end)
                if scan.found:
                    break
            # A match may straddle the window's end: look there again next time.
            next_from[pattern] = max(next_from[pattern], window.end - len(pattern) + 1)
            if scan.found:
                break
        if window.eof or window.end >= limit:
            break
        window.drop(min(*next_from.values(), *scan.pending_headers(), window.end))
    if not scan.found:
        scan.capture_string_headers()
        scan.resolve_pointers()
    if scan.version is None:
        return None
    modinfo = scan.modinfo or ""
    framed = len(modinfo) >= 33 and modinfo[-17] == "\n"
    return scan.version, modinfo[16:-16] if framed else ""


def stdlib_version(go_version: str) -> str | None:
    """`go1.19.8` -> `1.19.8`, `go1.20` -> `1.20.0`, `go1.21rc2` -> `1.21.0-rc.2`."""
    words = go_version.split()
    match = _GO_VERSION.match(words[0]) if words else None
    if match is None:
        return None  # a development toolchain ("devel go1.22-abcdef")
    major, minor, patch, stage, number = match.groups()
    version = f"{major}.{minor}.{patch or 0}"
    return f"{version}-{stage}.{number}" if stage else version


@dataclass
class _Module:
    path: str
    version: str
    replacement: tuple[str, str] | None = None


def parse_modinfo(text: str) -> tuple[_Module | None, list[_Module]]:
    """The main module and the dependencies of runtime/debug.BuildInfo's text form."""
    main: _Module | None = None
    deps: list[_Module] = []
    last: _Module | None = None
    for line in text.splitlines():
        key, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if key in ("mod", "dep") and len(fields) >= 2 and fields[0]:
            last = _Module(fields[0], fields[1])
            if key == "mod":
                main = last
            else:
                deps.append(last)
        elif key == "=>" and last is not None and len(fields) >= 2 and fields[0]:
            last.replacement = (fields[0], fields[1])
            last = None
    return main, deps


def _identity(module: _Module) -> tuple[str, str]:
    if module.replacement is not None and module.replacement[1] not in ("", "(devel)"):
        return module.replacement
    return module.path, module.version


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        summary = json.loads(data)
        go, modinfo = str(summary["go"]), str(summary["modinfo"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UnreadableFile(f"{path}: damaged Go build info summary ({exc})") from None
    main, deps = parse_modinfo(modinfo)
    modules = [_identity(dep) for dep in deps]
    if main is not None and main.version not in ("", "(devel)"):
        modules.insert(0, _identity(main))
    records = [
        PackageRecord(type="golang", name=name, version=version, purl=golang_purl(name, version))
        for name, version in dict.fromkeys(modules)
        if version
    ]
    stdlib = stdlib_version(go)
    if stdlib is not None:
        records.append(
            PackageRecord(
                type="golang", name="stdlib", version=stdlib, purl=golang_purl("stdlib", stdlib)
            )
        )
    return records
