"""npm packages: installed ones, and the ones lockfiles pin.

Installed: `node_modules/NAME/package.json` and `node_modules/@SCOPE/NAME/package.json`.
Other package.json files inside a package (tests, fixtures, sub-folders) are
not installed packages and are left out.

Pinned: `package-lock.json` and `npm-shrinkwrap.json` (lockfileVersion 1, 2
and 3) outside node_modules (a lockfile inside an installed package describes
that package's development, not this install; npm's own
`node_modules/.package-lock.json` repeats what node_modules holds). Version 2
and 3 lockfiles are read from `packages`, keyed by install path
(`node_modules/a/node_modules/b`); version 1 from the nested `dependencies`,
whose nesting gives the same install paths. Left out: the root project (like
the application's own package.json), workspace folders and links (local
code, not registry packages), `dev` dependencies (`npm ci --omit=dev`, what
production images run, does not install them), and version-1 entries whose
version is a git, file or URL reference rather than a version.

Each lockfile entry names the package.json it installs
(`<lockfile dir>/node_modules/a/node_modules/b/package.json`); when that file
is in the image and states a package of the same name, that installed package
is reported and the lockfile entry is not, so no package is reported twice
for one install location, and the version reported is the one installed.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import npm_purl


def wants(path: str) -> bool:
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return not parts[-2].startswith((".", "@"))
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise UnreadableFile(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UnreadableFile(f"{path} is not a JSON object")
    name, version = document.get("name"), document.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    return [PackageRecord(type="npm", name=name, version=version, purl=npm_purl(name, version))]


CATALOGER = Cataloger("npm", wants, parse)

LOCKFILE_NAMES = ("package-lock.json", "npm-shrinkwrap.json")


def wants_lockfile(path: str) -> bool:
    parts = path.split("/")
    return parts[-1] in LOCKFILE_NAMES and "node_modules" not in parts[:-1]


def parse_lockfile(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise UnreadableFile(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UnreadableFile(f"{path} is not a JSON object")
    version = document.get("lockfileVersion")
    if version is not None and (not isinstance(version, int) or version < 1):
        raise UnreadableFile(f"{path} has an unknown lockfileVersion {version!r}")
    packages, dependencies = document.get("packages"), document.get("dependencies")
    if isinstance(packages, dict) and (version or 2) >= 2:
        entries = _v2_entries(packages)
    elif isinstance(dependencies, dict):
        entries = list(_v1_entries(dependencies, ""))
    else:
        return []
    root = posixpath.dirname(path)
    return [
        PackageRecord(
            type="npm",
            name=name,
            version=pinned,
            purl=npm_purl(name, pinned),
            superseded_by=posixpath.join(root, location, "package.json"),
        )
        for location, name, pinned in entries
    ]


def _v2_entries(packages: dict[str, Any]) -> list[tuple[str, str, str]]:
    entries = []
    for location, entry in packages.items():
        if not isinstance(entry, dict) or "node_modules/" not in f"{location}/":
            continue  # the root project ("") and workspace folders
        if entry.get("link") or entry.get("dev"):
            continue
        name = entry.get("name") or location.rpartition("node_modules/")[2]
        version = entry.get("version")
        if isinstance(name, str) and name and isinstance(version, str) and version:
            entries.append((location, name, version))
    return entries


def _v1_entries(dependencies: dict[str, Any], parent: str) -> list[tuple[str, str, str]]:
    entries = []
    for key, entry in dependencies.items():
        if not isinstance(entry, dict):
            continue
        location = f"{parent}node_modules/{key}"
        version = entry.get("version")
        name = key
        if isinstance(version, str) and version.startswith("npm:"):
            # An alias: "key": {"version": "npm:real-name@1.2.3"}
            name, _, version = version[4:].rpartition("@")
        nested = entry.get("dependencies")
        if isinstance(nested, dict):
            entries.extend(_v1_entries(nested, location + "/"))
        if entry.get("dev") or not isinstance(version, str) or not name:
            continue
        if version and ":" not in version and "/" not in version:
            entries.append((location, name, version))
    return entries


LOCKFILE_CATALOGER = Cataloger("npm-lockfile", wants_lockfile, parse_lockfile)
