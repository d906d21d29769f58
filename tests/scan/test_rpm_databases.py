"""rpmdbs in BerkeleyDB (CentOS 7, RHEL 7/8, Amazon Linux 2) and ndb (SUSE) format.

The packages are built by rpmbuild and installed by the real rpm; their header blobs are
then stored as each format stores them (see rpmdb_files.py): the BerkeleyDB file by
Berkeley DB's db_load, checked by reading it back with rpm's own bdb_ro backend.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from cargohold.scan import Inventory
from cargohold.scan.matching import coverage_problems, match_inventory
from tests.scan.imagebuild import File, ImageSpec, image_inventory
from tests.scan.osv_data import MemorySource, advisory
from tests.scan.rpmdb_files import (
    DB_LOAD,
    RPM,
    RPMBUILD,
    berkeley_packages,
    build_rpm_root,
    ndb_packages,
    sqlite_blobs,
)
from tests.scan.test_rpm_real import QUERY_FORMAT
from tests.scan.trivy_compare import differences

pytestmark = pytest.mark.skipif(
    RPM is None or RPMBUILD is None or DB_LOAD is None,
    reason="rpm or db_load is missing: apt-get install rpm db5.3-util",
)

PKG_INFO = "Metadata-Version: 1.1\\nName: urllib3\\nVersion: 1.10.2\\n"
EGG_INFO = "usr/lib/python2.7/site-packages/urllib3-1.10.2-py2.7.egg-info"
MANY_FILES = 300  # bash's header then spans several BerkeleyDB overflow pages
FILLERS = 24  # enough packages for several hash buckets
SPECS = {
    "bash": f"""Name: bash
Version: 4.2.46
Release: 35.el7_9
Summary: The shell
License: GPLv3+

%description
Test package.

%install
mkdir -p %{{buildroot}}/usr/share/doc/bash
for i in $(seq 1 {MANY_FILES}); do echo $i > %{{buildroot}}/usr/share/doc/bash/file-$i.txt; done

%files
/usr/share/doc/bash
""",
    "openssl": """Name: openssl
Version: 1.0.2k
Release: 26.el7_9
Epoch: 1
Summary: TLS toolkit
License: OpenSSL
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
    "python-urllib3": f"""Name: python-urllib3
Version: 1.10.2
Release: 7.el7
Summary: urllib3
License: MIT
BuildArch: noarch

%description
Test package.

%package -n python2-urllib3
Summary: urllib3 for Python 2

%description -n python2-urllib3
Test subpackage.

%install
mkdir -p %{{buildroot}}/{EGG_INFO}
printf '{PKG_INFO}' > %{{buildroot}}/{EGG_INFO}/PKG-INFO

%files -n python2-urllib3
/{EGG_INFO}
""",
    "filler": """Name: filler
Version: 1.0
Release: 1.el7
Summary: Many subpackages
License: MIT
BuildArch: noarch

%description
Test package.
"""
    + "".join(
        f"\n%package {i}\nSummary: part {i}\n\n%description {i}\nPart {i}.\n\n%files {i}\n"
        for i in range(FILLERS)
    )
    + "\n%files\n",
}
CENTOS_OS_RELEASE = b"""NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
"""
ALMA8_OS_RELEASE = b"""NAME="AlmaLinux"
VERSION="8.9 (Midnight Oncilla)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.9"
PRETTY_NAME="AlmaLinux 8.9 (Midnight Oncilla)"
"""
SLES_OS_RELEASE = b"""NAME="SLES"
VERSION="15-SP5"
VERSION_ID="15.5"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"
ID="sles"
ID_LIKE="suse"
"""


def _run(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root filesystem whose var/lib/rpm/rpmdb.sqlite the real rpm filled."""
    work = tmp_path_factory.mktemp("rpmdbs")
    build_rpm_root(work, SPECS)
    return work / "rootfs"


def _rpm_qa(backend: str, dbpath: Path) -> set[tuple[str, ...]]:
    assert RPM is not None
    args = [RPM, "--define", f"_db_backend {backend}", "--dbpath", str(dbpath), "-qa"]
    output = _run([*args, "--qf", QUERY_FORMAT])
    return {tuple(line.split("\t")) for line in output.splitlines()}


def _installed_files(root: Path) -> list[File]:
    """Every file rpm installed, without its database."""
    return [
        File(str(p.relative_to(root)), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and "var/lib/rpm" not in str(p.relative_to(root))
    ]


def _inventory(tmp_path: Path, files: list[File]) -> Inventory:
    return image_inventory(tmp_path, ImageSpec([files]))


def _keys(rootfs: Path) -> set[tuple[str, str, str]]:
    """(rpm, name, [epoch:]version-release) of every package rpm installed in `rootfs`."""
    rows = _rpm_qa("sqlite", rootfs / "var" / "lib" / "rpm")
    return {("rpm", row[0], row[1]) for row in rows}


def _rows(inventory: Inventory) -> set[tuple[str, ...]]:
    return {
        (p.name, p.version, p.arch or "", f"{p.source_name}-{p.source_version}.src.rpm")
        for p in inventory.packages
        if p.type == "rpm"
    }


@pytest.fixture(scope="module")
def berkeley_db(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dbpath = tmp_path_factory.mktemp("bdb")
    blobs = sqlite_blobs(rootfs / "var" / "lib" / "rpm" / "rpmdb.sqlite")
    return berkeley_packages(blobs, dbpath / "Packages")


def test_berkeley_db_inventory_equals_what_rpm_lists(
    rootfs: Path, berkeley_db: Path, tmp_path: Path
) -> None:
    expected = _rpm_qa("sqlite", rootfs / "var" / "lib" / "rpm")
    assert len(expected) == 4 + FILLERS + 1
    # rpm itself reads the BerkeleyDB file back with the same packages.
    assert _rpm_qa("bdb_ro", berkeley_db.parent) == expected
    files = [
        File("etc/os-release", CENTOS_OS_RELEASE),
        File("var/lib/rpm/Packages", berkeley_db.read_bytes()),
        *_installed_files(rootfs),
    ]
    inventory = _inventory(tmp_path, files)
    assert _rows(inventory) == expected
    assert inventory.problems == []
    by_name = {p.name: p for p in inventory.packages}
    assert by_name["openssl-libs"].purl == (
        "pkg:rpm/centos/openssl-libs@1.0.2k-26.el7_9?arch=noarch&distro=centos-7&epoch=1"
    )
    # The rpm's file list owns the egg-info it installed: judged by the rpm's advisories.
    urllib3 = next(p for p in inventory.packages if p.type == "pypi")
    assert (urllib3.name, urllib3.version) == ("urllib3", "1.10.2")
    assert urllib3.owner == by_name["python2-urllib3"].purl
    # OSV has no CentOS ecosystem: the packages are listed, and said to be unchecked.
    (unchecked,) = coverage_problems(inventory)
    assert "CentOS Linux 7 (Core)" in unchecked.message and not unchecked.blocking


def _alsa(fixed: str) -> Any:
    return advisory(
        "ALSA-2024:0001", "AlmaLinux:8", ["openssl-libs"], "0", fixed,
        modified="2024-01-10T00:00:00Z", related=["CVE-2023-5678"],
    )  # fmt: skip


def test_berkeley_db_packages_are_matched(berkeley_db: Path, tmp_path: Path) -> None:
    # AlmaLinux 8 (like RHEL 8) still keeps its rpmdb in BerkeleyDB.
    files = [
        File("etc/os-release", ALMA8_OS_RELEASE),
        File("var/lib/rpm/Packages", berkeley_db.read_bytes()),
    ]
    inventory = _inventory(tmp_path, files)
    fixed = "1:1.0.2k-27.el7_9"
    findings = match_inventory(inventory, MemorySource([_alsa(fixed), _alsa("1:1.0.2k-26.el7_9")]))
    assert [(f.package.name, f.id, f.fixed_version) for f in findings] == [
        ("openssl-libs", "CVE-2023-5678", fixed)
    ]
    assert findings[0].installed_version == "1:1.0.2k-26.el7_9"


def test_ndb_inventory_equals_what_rpm_lists(rootfs: Path, tmp_path: Path) -> None:
    expected = _rpm_qa("sqlite", rootfs / "var" / "lib" / "rpm")
    blobs = sqlite_blobs(rootfs / "var" / "lib" / "rpm" / "rpmdb.sqlite")
    files = [
        File("etc/os-release", SLES_OS_RELEASE),
        File("usr/lib/sysimage/rpm/Packages.db", ndb_packages(blobs)),
        *_installed_files(rootfs),
    ]
    inventory = _inventory(tmp_path, files)
    assert _rows(inventory) == expected
    assert inventory.problems == []
    by_name = {p.name: p for p in inventory.packages}
    assert by_name["bash"].purl.startswith("pkg:rpm/sles/bash@4.2.46-35.el7_9?")
    urllib3 = next(p for p in inventory.packages if p.type == "pypi")
    assert urllib3.owner == by_name["python2-urllib3"].purl


def test_an_ndb_free_slot_is_skipped(rootfs: Path, tmp_path: Path) -> None:
    blobs = sqlite_blobs(rootfs / "var" / "lib" / "rpm" / "rpmdb.sqlite")
    data = bytearray(ndb_packages(blobs))
    # Free the first slot (rpm zeroes a removed package's index): that package is gone.
    data[32 + 4 : 32 + 8] = b"\0\0\0\0"
    files = [File("etc/os-release", SLES_OS_RELEASE), File("var/lib/rpm/Packages.db", bytes(data))]
    inventory = _inventory(tmp_path, files)
    assert len(inventory.packages) == len(blobs) - 1
    assert inventory.problems == []


@pytest.mark.parametrize("damage", ["truncated", "trailer"])
def test_a_damaged_ndb_is_a_blocking_problem(rootfs: Path, tmp_path: Path, damage: str) -> None:
    blobs = sqlite_blobs(rootfs / "var" / "lib" / "rpm" / "rpmdb.sqlite")
    data = ndb_packages(blobs)
    data = data[: len(data) - 100] if damage == "truncated" else data[:-4] + b"XXXX"
    files = [File("etc/os-release", SLES_OS_RELEASE), File("var/lib/rpm/Packages.db", data)]
    with differences(
        "Trivy lists what it can read of a damaged ndb; cargohold lists nothing from it and"
        " says the OS packages were not inventoried (a blocking problem)",
        only_trivy={k for k in _keys(rootfs) if k[1] != "gpg-pubkey"},
    ):
        inventory = _inventory(tmp_path, files)
    assert inventory.packages == []
    (problem,) = inventory.problems
    assert problem.blocking and "ndb format" in problem.message
    assert problem.location == "var/lib/rpm/Packages.db"


def test_a_truncated_berkeley_db_is_a_blocking_problem(berkeley_db: Path, tmp_path: Path) -> None:
    data = berkeley_db.read_bytes()
    files = [
        File("etc/os-release", CENTOS_OS_RELEASE),
        File("var/lib/rpm/Packages", data[: len(data) // 2]),
    ]
    inventory = _inventory(tmp_path, files)
    assert inventory.packages == []
    (problem,) = inventory.problems
    assert problem.blocking and "BerkeleyDB format" in problem.message


def test_sles_packages_are_matched_by_binary_name_in_every_product_of_their_release(
    rootfs: Path, tmp_path: Path
) -> None:
    # SUSE's OSV records name the binary rpms each product ships, and on SLE 15 the base
    # system is a module: its advisories are filed under "Module for Basesystem 15 SP5".
    blobs = sqlite_blobs(rootfs / "var" / "lib" / "rpm" / "rpmdb.sqlite")
    files = [
        File("etc/os-release", SLES_OS_RELEASE),
        File("usr/lib/sysimage/rpm/Packages.db", ndb_packages(blobs)),
    ]
    inventory = _inventory(tmp_path, files)
    basesystem = "SUSE:Linux Enterprise Module for Basesystem 15 SP5"
    fixed = "1:1.0.2k-27.el7_9"
    records = [
        advisory(
            "SUSE-SU-2024:0001-1", basesystem, ["openssl-libs"], "0", fixed,
            upstream=["CVE-2023-5678"],
        ),
        advisory(
            "SUSE-SU-2024:0002-1", "SUSE:Linux Enterprise Server 15 SP5-LTSS", ["bash"], "0",
            "4.2.46-36.el7_9",
        ),
        # Another release of the same products: never this image's.
        advisory("SUSE-SU-2024:0003-1", "SUSE:Linux Enterprise Module for Basesystem 15 SP4",
                 ["filler-1"], "0", "99"),
        # A source package name: SUSE's advisories never use one, so it matches nothing.
        advisory("SUSE-SU-2024:0004-1", basesystem, ["python-urllib3"], "0", "99"),
    ]  # fmt: skip
    findings = match_inventory(inventory, MemorySource(records))
    assert sorted((f.package.name, f.id, f.fixed_version) for f in findings) == [
        ("bash", "SUSE-SU-2024:0002-1", "4.2.46-36.el7_9"),
        ("openssl-libs", "CVE-2023-5678", fixed),
    ]
    assert coverage_problems(inventory) == []


OPENSUSE_LEAP_OS_RELEASE = b"""NAME="openSUSE Leap"
VERSION="15.5"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.5"
PRETTY_NAME="openSUSE Leap 15.5"
"""
OPENEULER_OS_RELEASE = b"""NAME="openEuler"
VERSION="22.03 (LTS-SP1)"
ID="openEuler"
VERSION_ID="22.03"
PRETTY_NAME="openEuler 22.03 (LTS-SP1)"
ANSI_COLOR="0;31"
"""


@pytest.mark.parametrize(
    ("os_release", "ecosystem", "names", "matched"),
    [
        # openSUSE's records name binary rpms, as SUSE's do.
        (OPENSUSE_LEAP_OS_RELEASE, "openSUSE:Leap 15.5", ["python2-urllib3"], "python2-urllib3"),
        (OPENSUSE_LEAP_OS_RELEASE, "openSUSE:Leap 15.5", ["python-urllib3"], None),
        # openEuler's name the source package, in the release's LTS stream.
        (OPENEULER_OS_RELEASE, "openEuler:22.03-LTS-SP1", ["python-urllib3"], "python2-urllib3"),
        (OPENEULER_OS_RELEASE, "openEuler:22.03-LTS-SP1", ["python2-urllib3"], None),
        (OPENEULER_OS_RELEASE, "openEuler:22.03-LTS", ["python-urllib3"], None),
    ],
)
def test_other_rpm_distributions_are_matched_by_the_names_their_advisories_use(
    rootfs: Path,
    tmp_path: Path,
    os_release: bytes,
    ecosystem: str,
    names: list[str],
    matched: str | None,
) -> None:
    files = [
        File("etc/os-release", os_release),
        File("var/lib/rpm/rpmdb.sqlite", (rootfs / "var/lib/rpm/rpmdb.sqlite").read_bytes()),
    ]
    unknown_to_trivy = differences(
        "Trivy does not know openEuler and lists none of its rpms",
        only_cargohold=_keys(rootfs) if os_release is OPENEULER_OS_RELEASE else (),
    )
    with unknown_to_trivy:
        inventory = _inventory(tmp_path, files)
    record = advisory("SA-2024-0001", ecosystem, names, "0", "99")
    findings = match_inventory(inventory, MemorySource([record]))
    assert [f.package.name for f in findings] == ([matched] if matched else [])
    assert coverage_problems(inventory) == []
