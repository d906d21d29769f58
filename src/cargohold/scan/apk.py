"""Alpine packages: the apk installed database (/lib/apk/db/installed).

The format is blocks of `K:value` lines separated by blank lines; `P` is the
package, `V` its version, `A` the architecture and `o` the origin (source) package.
Its files are `R:` lines, each in the directory of the `F:` line before it.
"""

from __future__ import annotations

from cargohold.scan.catalog import Cataloger, FileList, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import os_purl

# apk-tools 3 moved the database under /usr; both may appear in merged-usr images.
PATHS = frozenset({"lib/apk/db/installed", "usr/lib/apk/db/installed"})


def wants(path: str) -> bool:
    return path in PATHS


def _text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{path} is not an apk database: {exc}") from None


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    text = _text(path, data)
    records = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            # Only the first occurrence: file entries (F/R/Z...) repeat, P/V/A/o do not.
            if sep and len(key) == 1 and key not in fields:
                fields[key] = value
        name, version = fields.get("P"), fields.get("V")
        if not name or not version:
            continue
        arch = fields.get("A") or None
        records.append(
            PackageRecord(
                type="apk",
                name=name,
                version=version,
                purl=os_purl("apk", "alpine", name, version, arch, os),
                source_name=fields.get("o") or name,
                source_version=version,
                arch=arch,
            )
        )
    return records


def file_lists(path: str, data: bytes) -> list[FileList]:
    lists = []
    for block in _text(path, data).split("\n\n"):
        name = arch = None
        directory = ""
        paths: list[str] = []
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                continue
            if key == "P" and name is None:
                name = value
            elif key == "A" and arch is None:
                arch = value or None
            elif key == "F":
                directory = value.strip("/")
            elif key == "R" and value:
                paths.append(f"{directory}/{value}" if directory else value)
        if name:
            lists.append(FileList(name, arch, tuple(paths)))
    return lists


CATALOGER = Cataloger("apk", wants, parse, os_packages=True, file_lists=file_lists)
