"""Alpine packages: the apk installed database (/lib/apk/db/installed).

The format is blocks of `K:value` lines separated by blank lines; `P` is the
package, `V` its version, `A` the architecture and `o` the origin (source) package.
"""

from __future__ import annotations

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import os_purl

# apk-tools 3 moved the database under /usr; both may appear in merged-usr images.
PATHS = frozenset({"lib/apk/db/installed", "usr/lib/apk/db/installed"})


def wants(path: str) -> bool:
    return path in PATHS


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{path} is not an apk database: {exc}") from None
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


CATALOGER = Cataloger("apk", wants, parse, os_packages=True)
