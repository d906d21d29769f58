"""SPDX 2.3 JSON: the image's packages as an SBOM (SPDX 2.3 has no vulnerabilities).

The document DESCRIBES the image package (purpose CONTAINER), which CONTAINS each
operating system (OPERATING-SYSTEM) and the language packages; an operating system
CONTAINS its OS packages, and an OS package the language packages it installed (see
ownership.py). Every package has its purl as a PACKAGE-MANAGER external
reference; one SPDX package per purl.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from typing import Any, TextIO

from cargohold import __version__
from cargohold.scan.findings import ScanResult
from cargohold.scan.model import OSInfo, Package
from cargohold.scan.report.common import is_os_package

SPDX_VERSION = "SPDX-2.3"
NAMESPACE_BASE = "https://spdx.org/spdxdocs/cargohold"
IMAGE_ID = "SPDXRef-Image"
NOASSERTION = "NOASSERTION"


def write(result: ScanResult, stream: TextIO) -> None:
    json.dump(document(result), stream, indent=2)
    stream.write("\n")


def document(result: ScanResult, now: dt.datetime | None = None) -> dict[str, Any]:
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    digests = {p.inventory.digest for p in result.platforms}
    packages: list[dict[str, Any]] = [
        _package(
            IMAGE_ID,
            result.target,
            digests.pop() if len(digests) == 1 else None,
            "CONTAINER",
        )
    ]
    relationships = [_relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)]
    seen: set[str] = set()
    for platform in result.platforms:
        os_id = None
        if platform.inventory.os is not None:
            os_id = _os_id(platform.inventory.os)
            if os_id not in seen:
                seen.add(os_id)
                os = platform.inventory.os
                packages.append(_package(os_id, os.id, os.version_id, "OPERATING-SYSTEM"))
                relationships.append(_relationship(IMAGE_ID, "CONTAINS", os_id))
        for package in platform.inventory.packages:
            spdx_id = _package_id(package.purl)
            if spdx_id in seen:
                continue
            seen.add(spdx_id)
            packages.append(_library(spdx_id, package))
            parent = os_id if os_id is not None and is_os_package(package) else IMAGE_ID
            if package.owner is not None:
                parent = _package_id(package.owner)
            relationships.append(_relationship(parent, "CONTAINS", spdx_id))
    return {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": result.target,
        "documentNamespace": f"{NAMESPACE_BASE}/{_slug(result.target)}-{uuid.uuid4()}",
        "creationInfo": {
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: cargohold-{__version__}"],
        },
        "packages": packages,
        "relationships": relationships,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "image"


def _os_id(os: OSInfo) -> str:
    return f"SPDXRef-OperatingSystem-{_slug(os.distro)}"


def _package_id(purl: str) -> str:
    """Stable per purl, so an owned package names its owner's ID by the owner's purl; SPDX
    IDs allow letters, digits, '.' and '-' (the purl type is the package type)."""
    kind = purl.removeprefix("pkg:").partition("/")[0]
    return f"SPDXRef-Package-{kind}-{hashlib.sha256(purl.encode()).hexdigest()[:16]}"


def _package(spdx_id: str, name: str, version: str | None, purpose: str) -> dict[str, Any]:
    package: dict[str, Any] = {"SPDXID": spdx_id, "name": name}
    if version:
        package["versionInfo"] = version
    package |= {
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": purpose,
    }
    return package


def _library(spdx_id: str, package: Package) -> dict[str, Any]:
    document = _package(spdx_id, package.name, package.version, "LIBRARY")
    if package.source_name:
        source = " ".join(p for p in (package.source_name, package.source_version) if p)
        document["sourceInfo"] = f"built package from: {source}"
    document["comment"] = f"found in /{package.location} (layer {package.layer.digest})"
    document["externalRefs"] = [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": package.purl,
        }
    ]
    return document


def _relationship(element: str, kind: str, related: str) -> dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}
