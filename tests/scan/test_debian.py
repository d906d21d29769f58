"""A Debian image: the inventory is exactly what its dpkg database says, layer by layer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cargohold.scan import Inventory, inventory_image
from tests.scan.content import DATA, debian_base, dist_info
from tests.scan.imagebuild import File, ImageSpec, image_inventory, oci_layout, whiteout
from tests.scan.trivy_compare import differences

SITE = "usr/lib/python3/dist-packages"


def _debian_image(root: Path) -> Path:
    spec = ImageSpec(
        layers=[
            debian_base(),
            # `apt-get install curl python3-requests`: dpkg rewrites its whole status file.
            [
                File("var/lib/dpkg/status", (DATA / "dpkg" / "status-curl").read_bytes()),
                *dist_info(SITE, "requests", "2.28.1"),
                *dist_info(SITE, "urllib3", "1.26.12"),
            ],
            # `pip uninstall urllib3` in a later layer: the dist-info becomes a whiteout.
            [whiteout(f"{SITE}/urllib3-1.26.12.dist-info")],
        ],
        compression=["gzip", "zstd", "none"],
    )
    return oci_layout(root, spec)


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    (inventory,) = inventory_image(f"oci:{_debian_image(tmp_path_factory.mktemp('debian'))}")
    return inventory


def _dpkg_query(status: Path, admindir: Path) -> set[tuple[str, str, str, str, str]]:
    """What dpkg itself lists as installed, given the image's status file."""
    admindir.mkdir()
    shutil.copy(status, admindir / "status")
    fields = "${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n"
    output = subprocess.run(
        ["dpkg-query", f"--admindir={admindir}", "-W", "-f", fields],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return {tuple(line.split("\t")) for line in output.splitlines()}  # type: ignore[misc]


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg-query")
def test_debian_packages_equal_what_dpkg_query_lists(debian: Inventory, tmp_path: Path) -> None:
    expected = _dpkg_query(DATA / "dpkg" / "status-curl", tmp_path / "dpkg")
    found = {
        (p.name, p.version, p.arch, p.source_name, p.source_version)
        for p in debian.packages
        if p.type == "deb"
    }
    assert found == expected
    assert len(expected) == 17


def test_os_is_detected_through_the_os_release_symlink(debian: Inventory) -> None:
    assert debian.os is not None
    assert (debian.os.id, debian.os.version_id, debian.os.version_codename) == (
        "debian",
        "12",
        "bookworm",
    )
    assert debian.platform is not None and str(debian.platform) == "linux/amd64"


def test_each_package_names_the_layer_that_installed_it(debian: Inventory) -> None:
    layer_of = {p.name: p.layer.index for p in debian.packages}
    # In the base layer and still listed after dpkg rewrote the status file in layer 1.
    assert layer_of["libc6"] == 0
    assert layer_of["zlib1g"] == 0
    assert layer_of["curl"] == 1
    assert layer_of["libcurl4"] == 1
    assert layer_of["requests"] == 1
    libc6 = next(p for p in debian.packages if p.name == "libc6")
    assert libc6.layer.digest == debian.layers[0].digest
    assert libc6.location == "var/lib/dpkg/status"


def test_debian_purls_carry_arch_and_distro(debian: Inventory) -> None:
    purls = {p.name: p.purl for p in debian.packages}
    assert purls["libc6"] == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12"
    # The epoch stays in the version; ":" needs no escaping in a purl version.
    assert purls["zlib1g"] == "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12"
    assert purls["requests"] == "pkg:pypi/requests@2.28.1"


def test_source_packages_are_reported_for_advisory_matching(debian: Inventory) -> None:
    by_name = {p.name: p for p in debian.packages}
    assert (by_name["libssl3"].source_name, by_name["libssl3"].source_version) == (
        "openssl",
        "3.0.19-1~deb12u2",
    )
    # "Source: bash (5.2.15-2)": a binNMU has its own binary version.
    assert (by_name["bash"].version, by_name["bash"].source_version) == ("5.2.15-2+b8", "5.2.15-2")


def test_package_deleted_by_a_whiteout_in_a_later_layer_is_not_reported(
    debian: Inventory,
) -> None:
    names = {p.name for p in debian.packages}
    assert "urllib3" not in names
    assert "requests" in names
    assert debian.problems == []


def test_packages_removed_by_dpkg_but_keeping_config_files_are_not_reported(
    tmp_path: Path,
) -> None:
    status = (DATA / "dpkg" / "status-base").read_bytes() + (
        b"\nPackage: nano\nStatus: deinstall ok config-files\nPriority: optional\n"
        b"Section: editors\nArchitecture: amd64\nVersion: 7.2-1+deb12u1\n"
        b"Conffiles:\n /etc/nanorc 2b7a7a9d6d3b5f2e3c1b9e0f6a4d8c2e\n"
    )
    spec = ImageSpec(layers=[[*debian_base()[:3], File("var/lib/dpkg/status", status)]])
    inventory = image_inventory(tmp_path, spec)
    assert "nano" not in {p.name for p in inventory.packages}
    assert len(inventory.packages) == 12


def test_distroless_status_d_files_are_each_one_package(tmp_path: Path) -> None:
    # gcr.io/distroless writes one stanza per file, with md5sums lists beside them.
    stanza = (
        b"Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: arm64\n"
        b"Source: openssl\nMaintainer: Debian OpenSSL Team\nDescription: SSL\n"
    )
    spec = ImageSpec(
        architecture="arm64",
        variant="v8",
        layers=[
            [
                File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                File("var/lib/dpkg/status.d/base", b"Package: base-files\nVersion: 12.4\n"),
                File("var/lib/dpkg/status.d/base.md5sums", b"abc  etc/issue\n"),
            ],
            [File("var/lib/dpkg/status.d/libssl3", stanza)],
        ],
    )
    with differences(
        "Trivy lists no package of these status.d stanzas, which (like distroless's) carry no"
        " Status: line",
        only_cargohold=[("deb", "base-files", "12.4"), ("deb", "libssl3", "3.0.11-1~deb12u2")],
    ):
        inventory = image_inventory(tmp_path, spec)
    found = {(p.name, p.version, p.arch, p.source_name, p.layer.index) for p in inventory.packages}
    assert found == {
        ("base-files", "12.4", None, "base-files", 0),
        ("libssl3", "3.0.11-1~deb12u2", "arm64", "openssl", 1),
    }
    assert str(inventory.platform) == "linux/arm64/v8"
