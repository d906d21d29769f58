"""PHP packages Composer installed: `vendor/composer/installed.json`.

Composer 2 writes `{"packages": [...], "dev": ..., "dev-package-names": [...]}`, Composer 1
a bare list; each package has `name` (`vendor/project`) and `version` as installed
(`2.9.1`, `v6.3.0`). Every listed package is installed and reported, development ones too
(`composer install --no-dev` does not install them, so they are not listed then); the
root project is not in the file.
"""

from __future__ import annotations

import json
from typing import Any

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import composer_purl


def wants(path: str) -> bool:
    return path == "vendor/composer/installed.json" or path.endswith(
        "/vendor/composer/installed.json"
    )


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        document: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"{path} is not JSON: {exc}") from None
    packages = document.get("packages") if isinstance(document, dict) else document
    if not isinstance(packages, list):
        raise UnreadableFile(f"{path} lists no packages")
    records = []
    for entry in packages:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if isinstance(name, str) and isinstance(version, str) and name and version:
            purl = composer_purl(name, version)
            records.append(PackageRecord(type="composer", name=name, version=version, purl=purl))
    return records


CATALOGER = Cataloger("composer", wants, parse)
