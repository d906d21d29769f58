"""Which language packages the distribution installed: files its package manager owns.

Debian's python3-urllib3 installs `urllib3-1.26.12.dist-info`, libcommons-lang3-java a
jar with Maven metadata: the language catalogers find them, but the distribution patches
them (1.26.12-1+deb12u1 fixes CVE-2023-43804 without changing the upstream version), so
they are judged by the OS package's advisories, not PyPI's or Maven's. A language
package is owned when, in the image as its layers leave it,

- an installed OS package's file list names the package's location: dpkg's
  `info/NAME.list` (distroless: `status.d/NAME.md5sums`), the rpmdb's per-package file
  names, apk's `R:` entries under their `F:` directory (merged /usr: `bin/x` and
  `usr/bin/x` are the same file); and
- that file was written no later than the package manager last wrote the owner's files:
  the layer of the owner's dpkg `.list`, or the layer that installed the owner's version
  (rpm, apk). A file a later layer wrote over the package's (a jar copied in by hand) is
  no longer the distribution's.

An OS package removed by a later layer has no file list in the final view, and owns
nothing; a file list left behind for a package not installed owns nothing either.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, replace

from cargohold.scan import dpkg
from cargohold.scan.catalog import Cataloger, FileList, NotInventoried, UnreadableFile
from cargohold.scan.model import OS_PACKAGE_TYPES, Package
from cargohold.scan.overlay import Overlay

# Top-level directories merged-/usr systems link into /usr.
_MERGED = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32"})


def wants(path: str) -> bool:
    """File lists kept beside the package databases (dpkg keeps them in files of their own)."""
    return dpkg.wants_file_list(path)


@dataclass(frozen=True)
class _Owner:
    package: Package
    layer: int  # the layer in which the package manager last wrote the owner's files


def assign_owners(
    overlay: Overlay, packages: list[Package], catalogers: Iterable[Cataloger]
) -> list[Package]:
    """`packages`, each language package owned by an OS package naming that owner."""
    # Only the locations of language packages are looked up: the file lists of a large
    # image name tens of thousands of paths, none of which is kept otherwise.
    wanted = {
        alias
        for package in packages
        if package.type not in OS_PACKAGE_TYPES
        for alias in _aliases(package.location)
    }
    if not wanted:
        return packages
    owners = _owners(overlay, packages, catalogers, wanted)
    if not owners:
        return packages
    result = []
    for package in packages:
        if package.type not in OS_PACKAGE_TYPES:
            owner = _owner_of(owners, package.location)
            written = overlay.files.get(package.location)
            if owner is not None and written is not None and written.layer.index <= owner.layer:
                package = replace(package, owner=owner.package.purl)
        result.append(package)
    return result


def _aliases(location: str) -> tuple[str, ...]:
    """The path, and the same file's other name on a merged-/usr system."""
    head, _, rest = location.partition("/")
    if head == "usr" and rest.partition("/")[0] in _MERGED:
        return (location, rest)
    if head in _MERGED:
        return (location, f"usr/{location}")
    return (location,)


def _owner_of(owners: dict[str, _Owner], location: str) -> _Owner | None:
    for alias in _aliases(location):
        if alias in owners:
            return owners[alias]
    return None


def _owners(
    overlay: Overlay, packages: list[Package], catalogers: Iterable[Cataloger], wanted: set[str]
) -> dict[str, _Owner]:
    installed: dict[tuple[str, str], list[Package]] = {}
    for package in packages:
        if package.type in OS_PACKAGE_TYPES:
            installed.setdefault((package.type, package.name), []).append(package)
    owners: dict[str, _Owner] = {}
    listing = [c for c in catalogers if c.file_lists is not None]
    for path in sorted(overlay.files):
        version = overlay.files[path]
        if version.data is None:
            continue  # a symlink: read under the path it points to
        if dpkg.wants_file_list(path):
            lists = [(dpkg.file_list(path, version.data), "deb", None)]
            layer: int | None = version.layer.index
        else:
            cataloger = next((c for c in listing if c.wants(path)), None)
            if cataloger is None:
                continue
            try:
                found = cataloger.file_lists(path, version.data)
            except (NotInventoried, UnreadableFile):
                continue  # already a problem of the inventory
            # rpm, apk: a cataloger with file lists is named after its package type.
            lists = [(file_list, cataloger.name, path) for file_list in found]
            layer = None
        for file_list, kind, database in lists:
            owner = _installed(installed, kind, file_list, database)
            if owner is None:
                continue
            entry = _Owner(owner, owner.layer.index if layer is None else layer)
            for owned in file_list.paths:
                path = posixpath.normpath(owned)
                if path in wanted:
                    owners.setdefault(path, entry)
    return owners


def _installed(
    installed: dict[tuple[str, str], list[Package]],
    kind: str,
    file_list: FileList,
    database: str | None,
) -> Package | None:
    """The installed package a file list is for: same name, arch when the list names one,
    and read from the same database when the list comes from one."""
    for package in installed.get((kind, file_list.name), []):
        if file_list.arch is not None and package.arch not in (None, file_list.arch):
            continue
        if database is not None and package.location != database:
            continue
        return package
    return None
