"""RPM packages from the rpmdb, in any of its formats (see rpmdb_formats.py).

Each package is an RPM header blob: two big-endian int32 counts (index entries,
data bytes), the index entries (tag, type, offset, count; 16 bytes each), then
the data store. The blob is the same in every database format.

The version is `[EPOCH:]VERSION-RELEASE`, with the epoch when the header has
one (even 0), as `rpm -q --qf '%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}'`
prints it; the purl carries the epoch as a qualifier.

The files each package installed (for ownership, see ownership.py) are the
BASENAMES, DIRNAMES and DIRINDEXES arrays of its header.
"""

from __future__ import annotations

import posixpath
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from cargohold.scan.catalog import (
    Cataloger,
    FileList,
    PackageRecord,
    UnreadableFile,
)
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import os_purl
from cargohold.scan.rpmdb_formats import FORMATS, header_blobs

RPM_DIRS = ("var/lib/rpm", "usr/lib/sysimage/rpm")

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_SOURCERPM = (
    1000, 1001, 1002, 1003, 1022, 1044,
)  # fmt: skip
TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES = 1116, 1117, 1118
TYPE_INT32, TYPE_STRING, TYPE_STRING_ARRAY = 4, 6, 8
_PACKAGE_TAGS = frozenset({TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_SOURCERPM})
_ARRAY_TAGS = frozenset({TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES})
_FILE_TAGS = frozenset({TAG_NAME, TAG_ARCH, *_ARRAY_TAGS})


def wants(path: str) -> bool:
    parent, base = posixpath.split(path)
    return parent in RPM_DIRS and base in FORMATS


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    records = []
    for blob in _headers(path, data):
        record = _record(_tags(blob, path, _PACKAGE_TAGS), os)
        if record is not None:
            records.append(record)
    return records


def file_lists(path: str, data: bytes) -> list[FileList]:
    """The files each package installed: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]."""
    lists = []
    for blob in _headers(path, data):
        tags = _tags(blob, path, _FILE_TAGS)
        name, arch = tags.get(TAG_NAME), tags.get(TAG_ARCH)
        if not isinstance(name, str) or name == "gpg-pubkey":
            continue
        basenames, dirnames, indexes = (
            _list(tags.get(tag)) for tag in (TAG_BASENAMES, TAG_DIRNAMES, TAG_DIRINDEXES)
        )
        paths = tuple(
            (str(dirnames[i]) + str(base)).lstrip("/")
            for base, i in zip(basenames, indexes, strict=False)
            if isinstance(i, int) and 0 <= i < len(dirnames)
        )
        lists.append(FileList(name, arch if isinstance(arch, str) else None, paths))
    return lists


# The header blobs of each rpmdb read in one inventory, by path, with the bytes they were
# decoded from: the inventory reads the final content of a database first (then its
# earlier versions, not kept), and ownership reads that final content again.
_decoded: ContextVar[dict[str, tuple[bytes, list[bytes]]] | None] = ContextVar(
    "rpm_headers", default=None
)


@contextmanager
def decoded_once() -> Iterator[None]:
    """Within: an rpmdb's final content is decoded to header blobs once (one inventory)."""
    token = _decoded.set({})
    try:
        yield
    finally:
        _decoded.reset(token)


def _headers(path: str, data: bytes) -> list[bytes]:
    memo = _decoded.get()
    known = memo.get(path) if memo is not None else None
    if known is not None and known[0] is data:
        return known[1]
    blobs = header_blobs(path, data)
    if memo is not None and known is None:
        memo[path] = (data, blobs)
    return blobs


def _list(value: str | int | list[str | int] | None) -> list[str | int]:
    return value if isinstance(value, list) else []


def _tags(blob: bytes, path: str, wanted: frozenset[int]) -> dict[int, str | int | list[str | int]]:
    """The `wanted` tags of one header blob: a string or int32 for a scalar tag, a list of
    strings or int32s for the array tags (_ARRAY_TAGS)."""
    try:
        count, size = struct.unpack_from(">ii", blob, 0)
        store = 8 + 16 * count
        if count < 0 or size < 0 or store + size > len(blob):
            raise struct.error("header sizes exceed the blob")
        tags: dict[int, str | int | list[str | int]] = {}
        for i in range(count):
            tag, kind, offset, items = struct.unpack_from(">iiii", blob, 8 + 16 * i)
            if tag not in wanted or not 0 <= offset < size:
                continue
            at = store + offset
            if tag not in _ARRAY_TAGS:
                if kind == TYPE_STRING:
                    tags[tag] = blob[at : blob.index(b"\0", at)].decode("utf-8", "replace")
                elif kind == TYPE_INT32:
                    tags[tag] = struct.unpack_from(">i", blob, at)[0]
            elif items < 0:
                continue
            elif kind == TYPE_STRING_ARRAY:
                values: list[str | int] = []
                for _ in range(items):
                    end = blob.index(b"\0", at, store + size)
                    values.append(blob[at:end].decode("utf-8", "replace"))
                    at = end + 1
                tags[tag] = values
            elif kind == TYPE_INT32:
                tags[tag] = list(struct.unpack_from(f">{items}i", blob, at))
    except (struct.error, ValueError) as exc:
        raise UnreadableFile(f"{path} holds a damaged RPM header: {exc}") from None
    return tags


def _record(
    tags: dict[int, str | int | list[str | int]], os: OSInfo | None
) -> PackageRecord | None:
    name, version, release = tags.get(TAG_NAME), tags.get(TAG_VERSION), tags.get(TAG_RELEASE)
    # gpg-pubkey "packages" are the imported signing keys, not software.
    if not isinstance(name, str) or not isinstance(version, str) or name == "gpg-pubkey":
        return None
    evr = f"{version}-{release}" if release else version
    epoch = tags.get(TAG_EPOCH)
    arch = tags.get(TAG_ARCH)
    arch = arch if isinstance(arch, str) else None
    source_name = source_version = None
    sourcerpm = tags.get(TAG_SOURCERPM)
    if isinstance(sourcerpm, str) and sourcerpm.endswith(".src.rpm"):
        parts = sourcerpm.removesuffix(".src.rpm").rsplit("-", 2)
        if len(parts) == 3:
            source_name, source_version = parts[0], f"{parts[1]}-{parts[2]}"
    extra = {"epoch": str(epoch)} if isinstance(epoch, int) else None
    return PackageRecord(
        type="rpm",
        name=name,
        version=f"{epoch}:{evr}" if isinstance(epoch, int) else evr,
        purl=os_purl("rpm", "rpm", name, evr, arch, os, extra),
        source_name=source_name,
        source_version=source_version,
        arch=arch,
    )


CATALOGER = Cataloger("rpm", wants, parse, os_packages=True, file_lists=file_lists)
