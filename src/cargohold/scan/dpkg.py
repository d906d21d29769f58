"""Debian and Ubuntu packages: /var/lib/dpkg/status and distroless /var/lib/dpkg/status.d/*.

The files each package installed (for ownership, see ownership.py) are listed in
/var/lib/dpkg/info/NAME[:ARCH].list, one absolute path a line (directories too);
distroless images have /var/lib/dpkg/status.d/NAME.md5sums instead ("MD5  PATH").
"""

from __future__ import annotations

import posixpath

from debian.deb822 import Deb822

from cargohold.scan.catalog import Cataloger, FileList, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import os_purl

STATUS = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d"
INFO_DIR = "var/lib/dpkg/info"
# dpkg states in which a package's files are on disk ("config-files" and
# "not-installed" leave only configuration, or nothing, behind).
ON_DISK_STATES = frozenset(
    {
        "installed",
        "unpacked",
        "half-configured",
        "half-installed",
        "triggers-awaited",
        "triggers-pending",
    }
)


def wants(path: str) -> bool:
    if path == STATUS:
        return True
    # Distroless writes one stanza file per package, beside NAME.md5sums lists.
    return posixpath.dirname(path) == STATUS_DIR and not path.endswith(".md5sums")


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        stanzas = list(Deb822.iter_paragraphs(data, use_apt_pkg=False, encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"{path} is not a dpkg status file: {exc}") from None
    return [record for stanza in stanzas if (record := _record(stanza, os)) is not None]


def _record(stanza: Deb822, os: OSInfo | None) -> PackageRecord | None:
    name, version = stanza.get("Package"), stanza.get("Version")
    if not name or not version:
        return None
    status = stanza.get("Status", "install ok installed").split()
    if len(status) == 3 and status[2] not in ON_DISK_STATES:
        return None
    arch = stanza.get("Architecture") or None
    source_name, source_version = name, version
    if source := stanza.get("Source"):
        # "Source: glibc" or "Source: glibc (2.36-9)" when the versions differ.
        source_name, _, rest = source.partition(" ")
        source_version = rest.strip().strip("()") or version
    return PackageRecord(
        type="deb",
        name=name,
        version=version,
        purl=os_purl("deb", "debian", name, version, arch, os),
        source_name=source_name,
        source_version=source_version,
        arch=arch,
    )


def wants_file_list(path: str) -> bool:
    parent, base = posixpath.split(path)
    if parent == INFO_DIR:
        return base.endswith(".list")
    return parent == STATUS_DIR and base.endswith(".md5sums")


def file_list(path: str, data: bytes) -> FileList:
    """The package a file list is named for, and the paths it lists."""
    base = posixpath.basename(path)
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    if base.endswith(".md5sums"):
        name, arch = base.removesuffix(".md5sums"), None
        listed = [line.partition("  ")[2] for line in lines]
    else:
        name, _, qualifier = base.removesuffix(".list").partition(":")
        arch = qualifier or None
        listed = lines
    paths = tuple(p for line in listed if (p := line.lstrip("/")) not in ("", "."))
    return FileList(name, arch, paths)


CATALOGER = Cataloger("dpkg", wants, parse, os_packages=True)
