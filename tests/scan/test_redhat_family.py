"""AlmaLinux and Rocky Linux images: rpmdbs written by the real rpm, matched as their
advisories are written, and Python packages the rpms installed owned by them.

AlmaLinux's and Rocky Linux's OSV records name the binary RPMs they fix (krb5-libs, never
the source krb5); AlmaLinux puts the CVEs in `related`, Rocky Linux in `upstream`, and
Rocky writes fixed versions with an explicit epoch 0. The two records below are made here in
those shapes (their ids and fixed versions are illustrative, the CVE is krb5's real
CVE-2024-37371); the expected answer is one finding per image, under the CVE, on krb5-libs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cargohold.scan import Inventory
from cargohold.scan.filters import IgnoreRules, ScanFilter, apply_filter, load_ignorefile
from cargohold.scan.findings import PlatformResult, ScanResult
from cargohold.scan.matching import match_inventory
from tests.scan.imagebuild import File, ImageSpec, image_inventory
from tests.scan.osv_data import OSV_DATA, MemorySource, advisory, all_records
from tests.scan.rpmdb_files import RPM, RPMBUILD, build_rpm_root

pytestmark = pytest.mark.skipif(
    RPM is None or RPMBUILD is None, reason="rpm is missing: apt-get install rpm"
)

CVE = "CVE-2024-37371"
EGG_INFO = "usr/lib/python3.9/site-packages/urllib3-1.26.5-py3.9.egg-info"
PKG_INFO = "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.5\nSummary: HTTP library\n"
SPECS = {
    # Built from the krb5 source package: only the binary krb5-libs is installed.
    "krb5": """Name: krb5
Version: 1.21.1
Release: 1.el9
Summary: Kerberos
License: MIT
BuildArch: noarch

%description
Test package.

%package libs
Summary: Kerberos libraries

%description libs
Test subpackage.

%install
mkdir -p %{buildroot}/usr/lib64
echo krb5 > %{buildroot}/usr/lib64/libkrb5.so.3

%files libs
/usr/lib64/libkrb5.so.3
""",
    "python-urllib3": f"""Name: python-urllib3
Version: 1.26.5
Release: 3.el9
Summary: urllib3
License: MIT
BuildArch: noarch

%description
Test package.

%package -n python3-urllib3
Summary: urllib3 for Python 3

%description -n python3-urllib3
Test subpackage.

%install
mkdir -p %{{buildroot}}/{EGG_INFO}
printf '{PKG_INFO}' > %{{buildroot}}/{EGG_INFO}/PKG-INFO

%files -n python3-urllib3
/{EGG_INFO}
""",
}

ALMA_OS_RELEASE = b"""NAME="AlmaLinux"
VERSION="9.4 (Seafoam Ocelot)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"
"""
ROCKY_OS_RELEASE = b"""NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
"""


KRB5 = ("krb5-libs", "krb5-devel", "krb5-workstation")
SUMMARY = "Moderate: krb5 security update"
ALSA = advisory(
    "ALSA-2024:5312", "AlmaLinux:9", KRB5, "0", "1.21.1-2.el9_4",
    modified="2024-08-15T00:00:00Z", summary=SUMMARY, related=[CVE],
)  # fmt: skip
RLSA = advisory(
    "RLSA-2024:5312", "Rocky Linux:9", KRB5, "0", "0:1.21.1-2.el9_4",
    modified="2024-08-15T00:00:00Z", summary=SUMMARY, upstream=[CVE],
)  # fmt: skip


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root filesystem into which rpm installed packages that rpmbuild built."""
    work = tmp_path_factory.mktemp("rpm")
    packages = build_rpm_root(work, SPECS)
    assert [Path(p).name.split("-1.")[0] for p in packages] == ["krb5-libs", "python3-urllib3"]
    return work / "rootfs"


def _inventory(tmp_path: Path, rootfs: Path, os_release: bytes) -> Inventory:
    files = [File("etc/os-release", os_release)]
    for path in sorted(rootfs.rglob("*")):
        if path.is_file():
            files.append(File(str(path.relative_to(rootfs)), path.read_bytes()))
    return image_inventory(tmp_path, ImageSpec([files]))


@pytest.mark.parametrize(
    ("os_release", "record", "ecosystem"),
    [(ALMA_OS_RELEASE, ALSA, "AlmaLinux:9"), (ROCKY_OS_RELEASE, RLSA, "Rocky Linux:9")],
)
def test_binary_rpm_advisories_match_and_carry_the_cve(
    tmp_path: Path, rootfs: Path, os_release: bytes, record: Any, ecosystem: str
) -> None:
    inventory = _inventory(tmp_path, rootfs, os_release)
    findings = match_inventory(inventory, MemorySource([*all_records(), record]))
    assert [(f.package.name, f.id, f.record_id, f.ecosystem) for f in findings] == [
        ("krb5-libs", CVE, record.id, ecosystem)
    ]
    (finding,) = findings
    assert finding.installed_version == "1.21.1-1.el9"
    assert finding.fixed_version == record.affected[0].ranges[0].events[1].value

    # A CVE-based ignore file applies, as it does to every other distribution's findings.
    ignorefile = tmp_path / ".trivyignore"
    ignorefile.write_text(f"{CVE}  # accepted until the rebuild\n")
    result = ScanResult("img", [PlatformResult(inventory, findings)])
    kept = apply_filter(result, ScanFilter(ignore=load_ignorefile(ignorefile)), dt.date.today())
    assert kept.platforms[0].findings == []
    unfiltered = apply_filter(result, ScanFilter(ignore=IgnoreRules()), dt.date.today())
    assert len(unfiltered.platforms[0].findings) == 1


def test_python_package_the_rpm_installed_is_owned(tmp_path: Path, rootfs: Path) -> None:
    inventory = _inventory(tmp_path, rootfs, ROCKY_OS_RELEASE)
    (urllib3,) = [p for p in inventory.packages if p.type == "pypi"]
    assert (urllib3.name, urllib3.version, urllib3.location) == (
        "urllib3",
        "1.26.5",
        f"{EGG_INFO}/PKG-INFO",
    )
    assert urllib3.owner == (
        "pkg:rpm/rocky/python3-urllib3@1.26.5-3.el9?arch=noarch&distro=rocky-9.3"
    )
    # PyPI's GHSA-v845-jxx5-vc9f (urllib3 < 1.26.17) does not apply to Rocky's build.
    records = [*all_records(), *all_records(OSV_DATA / "distribution-owned")]
    findings = match_inventory(inventory, MemorySource(records))
    assert [f for f in findings if f.package.type == "pypi"] == []
