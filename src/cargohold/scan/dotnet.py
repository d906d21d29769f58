"""NuGet packages of .NET applications: the `*.deps.json` the SDK writes beside each app.

`dotnet publish` (and `build`) writes `APP.deps.json`, whose `libraries` object is keyed
`NAME/VERSION` with a `type`: `package` for a NuGet package, `project` for the
application's own projects, `reference` and others for what is not from NuGet. Only
`package` entries are reported, as Trivy does.
"""

from __future__ import annotations

import json
from typing import Any

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import nuget_purl


def wants(path: str) -> bool:
    return path.endswith(".deps.json")


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        document: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"{path} is not JSON: {exc}") from None
    libraries = document.get("libraries") if isinstance(document, dict) else None
    if not isinstance(libraries, dict):
        raise UnreadableFile(f"{path} is not a .deps.json: it has no `libraries`")
    records = []
    for key, library in libraries.items():
        name, _, version = key.rpartition("/")
        if not isinstance(library, dict) or library.get("type") != "package":
            continue
        if name and version:
            purl = nuget_purl(name, version)
            records.append(PackageRecord(type="nuget", name=name, version=version, purl=purl))
    return records


CATALOGER = Cataloger("dotnet-deps", wants, parse)
