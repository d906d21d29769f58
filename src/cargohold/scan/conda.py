"""conda packages: the `conda-meta/*.json` record conda writes for each installed package.

Each record has `name` and `version` (and `build`, `channel`, `files`, ...). OSV has no
conda ecosystem, so these packages are listed (and in SBOMs) but not matched; a Python
package conda installed is also found by its dist-info and matched in PyPI. Trivy reads
the same files.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import conda_purl


def wants(path: str) -> bool:
    parent, base = posixpath.split(path)
    return posixpath.basename(parent) == "conda-meta" and base.endswith(".json")


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        document: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"{path} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UnreadableFile(f"{path} is not a conda package record")
    name, version = document.get("name"), document.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        # conda-meta also holds `history` and, in newer conda, other JSON (pinned, ...)
        return []
    return [PackageRecord(type="conda", name=name, version=version, purl=conda_purl(name, version))]


CATALOGER = Cataloger("conda", wants, parse)
