"""Rust crates a `Cargo.lock` pins.

Cargo.lock is TOML: `[[package]]` tables with `name`, `version` and, for a crate from a
registry or a git repository, `source` (`registry+https://github.com/rust-lang/crates.io-index`,
`sparse+https://index.crates.io/`, `git+https://...#COMMIT`). A package without `source` is a
crate of the workspace itself (the application, its path dependencies): not reported, as an
npm lockfile's root project is not. Trivy reads the same file.
"""

from __future__ import annotations

import posixpath
import tomllib

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import cargo_purl


def wants(path: str) -> bool:
    return posixpath.basename(path) == "Cargo.lock"


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"{path} is not a Cargo.lock: {exc}") from None
    packages = document.get("package", [])
    if not isinstance(packages, list):
        raise UnreadableFile(f"{path} is not a Cargo.lock: `package` is not an array")
    records = []
    for entry in packages:
        if not isinstance(entry, dict) or not isinstance(entry.get("source"), str):
            continue
        name, version = entry.get("name"), entry.get("version")
        if isinstance(name, str) and isinstance(version, str):
            purl = cargo_purl(name, version)
            records.append(PackageRecord(type="cargo", name=name, version=version, purl=purl))
    return records


CATALOGER = Cataloger("cargo-lock", wants, parse)
