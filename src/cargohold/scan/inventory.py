"""Inventory an image: apply its layers, detect the OS, read every package database.

A package's layer is the lowest layer from which its database file has listed
it without a break: rewriting a dpkg status file to add one package does not
move the other packages up to that layer.

A record that only says where a package should be installed (a package-lock.json
entry) gives way to a package of the same type and name found at that place
(its node_modules/.../package.json): each installed package is reported once,
with the version actually installed.

A language package whose file an OS package installed is marked as owned by it
(see ownership.py): the OS package's advisories judge it, not the language's.
"""

from __future__ import annotations

from cargohold.scan import (
    apk,
    composer,
    conda,
    dotnet,
    dpkg,
    executables,
    java,
    npm,
    os_release,
    ownership,
    python_pkgs,
    rpm,
    ruby_gems,
    rust_crates,
)
from cargohold.scan.catalog import Cataloger, NotInventoried, PackageRecord, UnreadableFile
from cargohold.scan.layers import LayerReader
from cargohold.scan.layout import ImageToScan, open_images
from cargohold.scan.model import (
    OS_PACKAGES_NOT_INVENTORIED,
    UNREADABLE_FILE,
    Inventory,
    LayerRef,
    OSInfo,
    Package,
    Problem,
)
from cargohold.scan.overlay import FileVersion, Overlay
from cargohold.scan.reference import parse_reference

CATALOGERS: tuple[Cataloger, ...] = (
    dpkg.CATALOGER,
    apk.CATALOGER,
    rpm.CATALOGER,
    python_pkgs.CATALOGER,
    python_pkgs.EGG_CATALOGER,
    npm.CATALOGER,
    npm.LOCKFILE_CATALOGER,
    java.CATALOGER,
    executables.CATALOGER,
    ruby_gems.CATALOGER,
    composer.CATALOGER,
    dotnet.CATALOGER,
    rust_crates.CATALOGER,
    conda.CATALOGER,
)


def inventory_image(source: str) -> list[Inventory]:
    """Inventory every platform of an `oci:`, `oci-archive:` or `docker-archive:` image."""
    with open_images(parse_reference(source)) as images:
        return [inventory_source(image) for image in images]


def inventory_source(
    image: ImageToScan, catalogers: tuple[Cataloger, ...] = CATALOGERS
) -> Inventory:
    """Inventory one single-platform image whose layers can be opened."""
    whole = [c for c in catalogers if c.extract is None]
    overlay = Overlay(
        lambda path: (
            os_release.wants(path) or ownership.wants(path) or any(c.wants(path) for c in whole)
        ),
        extractors=[c for c in catalogers if c.extract is not None],
    )
    for layer in image.layers:
        with LayerReader(layer.open(), layer.ref, layer.verify) as reader:
            overlay.apply(reader)
    os = os_release.detect_os(lambda path: _content(overlay.resolve(path)))
    inventory = Inventory(image.digest, image.platform, os, [layer.ref for layer in image.layers])
    inventory.problems.extend(overlay.problems)
    with rpm.decoded_once():  # the packages, then their file lists (ownership)
        found: list[tuple[PackageRecord, Package]] = []
        for path in sorted(overlay.files):
            extracted_by = overlay.files[path].extracted_by
            for cataloger in catalogers:
                if extracted_by == cataloger.name or (
                    extracted_by is None and cataloger.extract is None and cataloger.wants(path)
                ):
                    found.extend(_catalog(cataloger, path, overlay, os, inventory))
        installed = {(p.type, p.name, p.location) for _, p in found}
        kept = (
            package
            for record, package in found
            if (record.type, record.name, record.superseded_by) not in installed
        )
        # One file can state a package twice (a lockfile with two copies of it): once is enough.
        packages = list(dict.fromkeys(kept))
        inventory.packages.extend(ownership.assign_owners(overlay, packages, catalogers))
    inventory.packages.sort(key=lambda p: (p.type, p.name, p.version, p.location))
    return inventory


def _content(version: FileVersion | None) -> bytes | None:
    return version.data if version is not None else None


def _catalog(
    cataloger: Cataloger, path: str, overlay: Overlay, os: OSInfo | None, inventory: Inventory
) -> list[tuple[PackageRecord, Package]]:
    """The packages `cataloger` reads from `path`; problems go to the inventory."""
    final = overlay.files[path]
    run = _same_reader_run(overlay.current_run(path), final.extracted_by)
    if not run or final.data is None:
        return []  # a symlink: the file it points to is read under its own path
    try:
        current = cataloger.parse(path, run[-1].data or b"", os)
    except NotInventoried as exc:
        inventory.problems.append(Problem(OS_PACKAGES_NOT_INVENTORIED, str(exc), path))
        return []
    except UnreadableFile as exc:
        code = OS_PACKAGES_NOT_INVENTORIED if cataloger.os_packages else UNREADABLE_FILE
        inventory.problems.append(Problem(code, f"{cataloger.name}: {exc}", path))
        return []
    layers = _introducing_layers(cataloger, path, run, current, os)
    return [
        (
            record,
            Package(
                type=record.type,
                name=record.name,
                version=record.version,
                purl=record.purl,
                layer=layers[record.key],
                location=path,
                source_name=record.source_name,
                source_version=record.source_version,
                arch=record.arch,
            ),
        )
        for record in current
    ]


def _same_reader_run(versions: list[FileVersion], extracted_by: str | None) -> list[FileVersion]:
    """The latest versions read the same way as the last one, without symlinks."""
    start = len(versions)
    while start > 0 and versions[start - 1].extracted_by == extracted_by:
        start -= 1
    return [v for v in versions[start:] if v.data is not None]


def _introducing_layers(
    cataloger: Cataloger,
    path: str,
    run: list[FileVersion],
    current: list[PackageRecord],
    os: OSInfo | None,
) -> dict[tuple[str, str, str, str | None], LayerRef]:
    layers = {record.key: run[-1].layer for record in current}
    pending = set(layers)
    for version in reversed(run[:-1]):
        if not pending:
            break
        try:
            keys = {r.key for r in cataloger.parse(path, version.data or b"", os)}
        except (NotInventoried, UnreadableFile):
            keys = set()
        for key in list(pending):
            if key in keys:
                layers[key] = version.layer
            else:
                pending.discard(key)
    return layers
