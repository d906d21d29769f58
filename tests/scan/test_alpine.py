"""An Alpine image: the inventory is exactly what its apk installed database says."""

from __future__ import annotations

from pathlib import Path

from tests.scan.content import DATA, alpine_base
from tests.scan.imagebuild import File, ImageSpec, image_inventory

# What /lib/apk/db/installed (tests/data/scan/apk/installed) lists: P, V, A and o of each block.
ALPINE_3_19 = {
    ("alpine-baselayout", "3.4.3-r2", "alpine-baselayout"),
    ("alpine-baselayout-data", "3.4.3-r2", "alpine-baselayout"),
    ("alpine-keys", "2.4-r1", "alpine-keys"),
    ("apk-tools", "2.14.0-r5", "apk-tools"),
    ("busybox", "1.36.1-r15", "busybox"),
    ("busybox-binsh", "1.36.1-r15", "busybox"),
    ("ca-certificates-bundle", "20230506-r0", "ca-certificates"),
    ("libc-utils", "0.7.2-r5", "libc-dev"),
    ("libcrypto3", "3.1.4-r5", "openssl"),
    ("libssl3", "3.1.4-r5", "openssl"),
    ("musl", "1.2.4_git20230717-r4", "musl"),
    ("musl-utils", "1.2.4_git20230717-r4", "musl"),
    ("scanelf", "1.3.7-r2", "pax-utils"),
    ("ssl_client", "1.36.1-r15", "busybox"),
    ("zlib", "1.3.1-r0", "zlib"),
}


def test_alpine_packages_equal_the_installed_database(tmp_path: Path) -> None:
    spec = ImageSpec(layers=[alpine_base()], compression=["zstd"])
    inventory = image_inventory(tmp_path, spec)
    found = {(p.name, p.version, p.source_name) for p in inventory.packages}
    assert found == ALPINE_3_19
    assert {p.arch for p in inventory.packages} == {"x86_64"}
    assert inventory.os is not None and inventory.os.distro == "alpine-3.19.1"
    musl = next(p for p in inventory.packages if p.name == "musl")
    assert musl.purl == (
        "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
    )
    assert musl.location == "lib/apk/db/installed"


def test_apk_del_in_a_later_layer_removes_the_package(tmp_path: Path) -> None:
    # `apk del libssl3` rewrites the database without the package's block.
    spec = ImageSpec(
        layers=[
            alpine_base(),
            [
                File(
                    "lib/apk/db/installed",
                    (DATA / "apk" / "installed-without-libssl3").read_bytes(),
                )
            ],
        ]
    )
    inventory = image_inventory(tmp_path, spec)
    assert {(p.name, p.version, p.source_name) for p in inventory.packages} == ALPINE_3_19 - {
        ("libssl3", "3.1.4-r5", "openssl")
    }
    # The packages that stayed were installed by the base layer, not by the rewrite.
    assert {p.layer.index for p in inventory.packages} == {0}


def test_alpine_release_identifies_the_os_without_os_release(tmp_path: Path) -> None:
    spec = ImageSpec(layers=[alpine_base()[1:]])
    inventory = image_inventory(tmp_path, spec)
    assert inventory.os is not None
    assert (inventory.os.id, inventory.os.version_id) == ("alpine", "3.19.1")
    assert len(inventory.packages) == len(ALPINE_3_19)
