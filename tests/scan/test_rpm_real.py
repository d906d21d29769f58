"""An rpmdb written by the real rpm: the inventory equals what `rpm -qa` lists from it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cargohold.scan import Inventory
from tests.scan.imagebuild import File, ImageSpec, image_inventory
from tests.scan.rpmdb_files import RPM, RPM_DEFINES, RPMBUILD, build_rpm_root
from tests.scan.test_rpm import FEDORA_OS_RELEASE

pytestmark = pytest.mark.skipif(
    RPM is None or RPMBUILD is None, reason="rpm is missing: apt-get install rpm"
)

# Three source packages: an epoch and a subpackage built from another source name, no
# epoch and the host's architecture, and an explicit epoch of 0 (rpm prints it).
SPECS = {
    "openssl": """Name: openssl
Version: 3.1.1
Release: 4.fc39
Epoch: 1
Summary: TLS toolkit
License: Apache-2.0
BuildArch: noarch

%description
Test package.

%package libs
Summary: TLS libraries

%description libs
Test subpackage.

%files

%files libs
""",
    "bash": """Name: bash
Version: 5.2.21
Release: 1.fc39
Summary: The shell
License: GPLv3+

%description
Test package.

%install
mkdir -p %{buildroot}/usr/share/doc/bash
echo bash > %{buildroot}/usr/share/doc/bash/README

%files
/usr/share/doc/bash/README
""",
    "tzdata": """Name: tzdata
Version: 2024a
Release: 2.fc39
Epoch: 0
Summary: Time zones
License: Public Domain
BuildArch: noarch

%description
Test package.

%files
""",
}
QUERY_FORMAT = "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n"


def _run(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def rpm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root filesystem whose /var/lib/rpm rpm itself filled, from packages rpmbuild built."""
    work = tmp_path_factory.mktemp("rpm")
    packages = build_rpm_root(work, SPECS, justdb=True)
    assert len(packages) == 4
    return work / "rootfs"


def _rpm_qa(dbpath: Path) -> set[tuple[str, ...]]:
    assert RPM is not None
    output = _run([RPM, *RPM_DEFINES, "--dbpath", str(dbpath), "-qa", "--qf", QUERY_FORMAT])
    return {tuple(line.split("\t")) for line in output.splitlines()}


def _image(tmp_path: Path, rootfs: Path) -> Inventory:
    files = [File("etc/os-release", FEDORA_OS_RELEASE)]
    for path in sorted(rootfs.rglob("*")):
        if path.is_file():  # rpmdb.sqlite and its (empty) -wal and -shm files, as rpm left them
            files.append(File(str(path.relative_to(rootfs)), path.read_bytes()))
    return image_inventory(tmp_path, ImageSpec([files]))


def test_inventory_equals_what_rpm_lists(rpm_root: Path, tmp_path: Path) -> None:
    expected = _rpm_qa(rpm_root / "var" / "lib" / "rpm")
    inventory = _image(tmp_path, rpm_root)
    found = {
        (p.name, p.version, p.arch or "", f"{p.source_name}-{p.source_version}.src.rpm")
        for p in inventory.packages
    }
    assert found == expected
    assert {p.name for p in inventory.packages} == {"openssl", "openssl-libs", "bash", "tzdata"}
    assert inventory.problems == []


def test_epochs_of_a_real_rpmdb(rpm_root: Path, tmp_path: Path) -> None:
    by_name = {p.name: p for p in _image(tmp_path, rpm_root).packages}
    libs = by_name["openssl-libs"]
    assert (libs.version, libs.source_name, libs.source_version) == (
        "1:3.1.1-4.fc39",
        "openssl",
        "3.1.1-4.fc39",
    )
    assert (
        libs.purl == "pkg:rpm/fedora/openssl-libs@3.1.1-4.fc39?arch=noarch&distro=fedora-39&epoch=1"
    )
    # An explicit epoch of 0 is kept, as rpm prints it; no epoch means none.
    assert by_name["tzdata"].version == "0:2024a-2.fc39"
    assert by_name["bash"].version == "5.2.21-1.fc39"
    assert "epoch" not in by_name["bash"].purl
