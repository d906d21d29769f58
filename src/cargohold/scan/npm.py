"""npm packages: `node_modules/NAME/package.json` and `node_modules/@SCOPE/NAME/package.json`.

Other package.json files inside a package (tests, fixtures, sub-folders) are
not installed packages and are left out.
"""

from __future__ import annotations

import json

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
