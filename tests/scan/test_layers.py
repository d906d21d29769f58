"""Layers apply as an overlay filesystem: whiteouts, opaque directories, replacements."""

from __future__ import annotations

from pathlib import Path

from cargohold.scan import Inventory
from tests.scan.content import dist_info, npm_package
from tests.scan.imagebuild import (
    Dir,
    File,
    Hardlink,
    ImageSpec,
    image_inventory,
    opaque,
    whiteout,
)
from tests.scan.trivy_compare import differences

SITE = "usr/lib/python3/site-packages"


def _inventory(tmp_path: Path, spec: ImageSpec) -> Inventory:
    return image_inventory(tmp_path, spec)


def _names(inventory: Inventory) -> set[tuple[str, str, int]]:
    return {(p.name, p.version, p.layer.index) for p in inventory.packages}


def test_whiteout_of_a_directory_removes_everything_below_it(tmp_path: Path) -> None:
    spec = ImageSpec(
        layers=[
            [npm_package("srv", "left-pad", "1.3.0"), *dist_info(SITE, "attrs", "23.1.0")],
            [whiteout("srv")],
        ]
    )
    assert _names(_inventory(tmp_path, spec)) == {("attrs", "23.1.0", 0)}


def test_opaque_marker_keeps_what_its_own_layer_adds(tmp_path: Path) -> None:
    # The marker may come after the new files in the tar stream; order must not matter.
    spec = ImageSpec(
        layers=[
            dist_info(SITE, "attrs", "22.2.0"),
            [*dist_info(SITE, "attrs", "23.1.0"), opaque(SITE)],
        ]
    )
    assert _names(_inventory(tmp_path, spec)) == {("attrs", "23.1.0", 1)}


def test_a_reinstalled_package_belongs_to_the_layer_that_reinstalled_it(tmp_path: Path) -> None:
    spec = ImageSpec(
        layers=[
            [npm_package("srv", "ms", "2.1.3")],
            [whiteout("srv/node_modules/ms")],
            [npm_package("srv", "ms", "2.1.3")],
        ]
    )
    assert _names(_inventory(tmp_path, spec)) == {("ms", "2.1.3", 2)}


def test_an_unchanged_rewrite_keeps_the_original_layer(tmp_path: Path) -> None:
    # `chown -R` or `touch` copies files up into a new layer without changing them.
    package = npm_package("srv", "ms", "2.1.3")
    spec = ImageSpec(layers=[[package], [package, File("srv/README", b"copied up")]])
    assert _names(_inventory(tmp_path, spec)) == {("ms", "2.1.3", 0)}


def test_a_directory_replaced_by_a_file_loses_its_packages(tmp_path: Path) -> None:
    spec = ImageSpec(
        layers=[
            [npm_package("srv", "ms", "2.1.3"), Dir("opt/keep")],
            [File("srv/node_modules", b"not a directory any more")],
        ]
    )
    with differences(
        "Trivy keeps what a lower layer put below a directory that a later layer replaced by"
        " a file; no runtime shows those files",
        only_trivy=[("npm", "ms", "2.1.3")],
    ):
        assert _names(_inventory(tmp_path, spec)) == set()


def test_hard_linked_metadata_is_read(tmp_path: Path) -> None:
    first = npm_package("a", "ms", "2.1.3")
    spec = ImageSpec(layers=[[first, Hardlink("b/node_modules/ms/package.json", first.path)]])
    inventory = _inventory(tmp_path, spec)
    assert sorted(p.location for p in inventory.packages) == [
        "a/node_modules/ms/package.json",
        "b/node_modules/ms/package.json",
    ]
