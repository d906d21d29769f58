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
_WANTED_TAGS = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_SOURCERPM}


def wants(path: str) -> bool:
    parent, base = posixpath.split(path)
    return parent in RPM_DIRS and base in FORMATS


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    records = []
    for blob in header_blobs(path, data):
        tags = parse_header(blob, path)
        record = _record(tags, os)
        if record is not None:
            records.append(record)
    return records


def file_lists(path: str, data: bytes) -> list[FileList]:
    """The files each package installed: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]."""
    lists = []
    for blob in header_blobs(path, data):
        tags = parse_header(blob, path)
        name, arch = tags.get(TAG_NAME), tags.get(TAG_ARCH)
        if not isinstance(name, str) or name == "gpg-pubkey":
            continue
        try:
            arrays = _arrays(blob, (TAG_BASENAMES, TAG_DIRNAMES, TAG_DIRINDEXES))
        except (struct.error, ValueError) as exc:
            raise UnreadableFile(f"{path} holds a damaged RPM header: {exc}") from None
        basenames = arrays.get(TAG_BASENAMES, [])
        dirnames = arrays.get(TAG_DIRNAMES, [])
        indexes = arrays.get(TAG_DIRINDEXES, [])
        paths = tuple(
            (str(dirnames[i]) + str(base)).lstrip("/")
            for base, i in zip(basenames, indexes, strict=False)
            if isinstance(i, int) and 0 <= i < len(dirnames)
        )
        lists.append(FileList(name, arch if isinstance(arch, str) else None, paths))
    return lists


def _arrays(blob: bytes, wanted: tuple[int, ...]) -> dict[int, list[str | int]]:
    """String-array and int32-array tags of one header blob."""
    count, size = struct.unpack_from(">ii", blob, 0)
    store = 8 + 16 * count
    if count < 0 or size < 0 or store + size > len(blob):
        raise ValueError("header sizes exceed the blob")
    arrays: dict[int, list[str | int]] = {}
    for i in range(count):
        tag, kind, offset, items = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in wanted or not 0 <= offset < size or items < 0:
            continue
        if kind == TYPE_STRING_ARRAY:
            values: list[str | int] = []
            at = store + offset
            for _ in range(items):
                end = blob.index(b"\0", at, store + size)
                values.append(blob[at:end].decode("utf-8", "replace"))
                at = end + 1
            arrays[tag] = values
        elif kind == TYPE_INT32:
            arrays[tag] = list(struct.unpack_from(f">{items}i", blob, store + offset))
    return arrays


def parse_header(blob: bytes, path: str) -> dict[int, str | int]:
    """The string and int32 tags this scanner needs from one header blob."""
    try:
        count, size = struct.unpack_from(">ii", blob, 0)
        store = 8 + 16 * count
        if count < 0 or size < 0 or store + size > len(blob):
            raise struct.error("header sizes exceed the blob")
        tags: dict[int, str | int] = {}
        for i in range(count):
            tag, kind, offset, _ = struct.unpack_from(">iiii", blob, 8 + 16 * i)
            if tag not in _WANTED_TAGS or not 0 <= offset < size:
                continue
            if kind == TYPE_STRING:
                end = blob.index(b"\0", store + offset)
                tags[tag] = blob[store + offset : end].decode("utf-8", "replace")
            elif kind == TYPE_INT32:
                tags[tag] = struct.unpack_from(">i", blob, store + offset)[0]
    except (struct.error, ValueError) as exc:
        raise UnreadableFile(f"{path} holds a damaged RPM header: {exc}") from None
    return tags


def _record(tags: dict[int, str | int], os: OSInfo | None) -> PackageRecord | None:
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
