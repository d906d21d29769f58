"""Language packages the distribution installed belong to their OS package.

Debian bookworm's python3-urllib3 1.26.12-1+deb12u4 (its changelog: 1.26.12-1+deb12u1 fixes
CVE-2023-43804) installs urllib3-1.26.12.egg-info; libcommons-lang3-java 3.12.0-2+deb12u1
(patched for CVE-2025-48924) installs a jar with Maven's pom.properties for 3.12.0. PyPI's
and Maven's advisories say both upstream versions are vulnerable; Debian's packages are not.
The status stanzas and `.list` files under tests/data/scan/dpkg-owned/ are what dpkg wrote
installing the two real .debs (see the README there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.scan import Inventory, Package
from cargohold.scan.matching import match_inventory
from tests.scan.content import DATA, debian_base, dist_info, java_archive
from tests.scan.imagebuild import (
    Entry,
    File,
    ImageSpec,
    Symlink,
    image_inventory,
    whiteout,
)
from tests.scan.osv_data import OSV_DATA, MemorySource, all_records
from tests.scan.trivy_compare import differences

OWNED = DATA / "dpkg-owned"
SITE = "usr/lib/python3/dist-packages"
EGG_INFO = f"{SITE}/urllib3-1.26.12.egg-info/PKG-INFO"
JAR = "usr/share/java/commons-lang3.jar"
URLLIB3_DEB = "pkg:deb/debian/python3-urllib3@1.26.12-1%2Bdeb12u4?arch=all&distro=debian-12"
LANG3_DEB = "pkg:deb/debian/libcommons-lang3-java@3.12.0-2%2Bdeb12u1?arch=all&distro=debian-12"


def _status(*, urllib3_version: str = "1.26.12-1+deb12u4", with_urllib3: bool = True) -> bytes:
    stanzas = (OWNED / "status-python3-urllib3-commons-lang3").read_text().split("\n\n")
    kept = [s for s in stanzas if s.strip() and (with_urllib3 or "python3-urllib3" not in s)]
    owned = "\n\n".join(kept).replace("1.26.12-1+deb12u4", urllib3_version)
    return (DATA / "dpkg" / "status-base").read_bytes() + b"\n" + owned.encode()


def _apt_install(**status: object) -> list[Entry]:
    """`apt-get install python3-urllib3 libcommons-lang3-java`, as dpkg leaves the files."""
    return [
        File("var/lib/dpkg/status", _status(**status)),  # type: ignore[arg-type]
        File(
            "var/lib/dpkg/info/python3-urllib3.list",
            (OWNED / "python3-urllib3.list").read_bytes(),
        ),
        File(
            "var/lib/dpkg/info/libcommons-lang3-java.list",
            (OWNED / "libcommons-lang3-java.list").read_bytes(),
        ),
        File(EGG_INFO, (OWNED / "urllib3-1.26.12.egg-info.PKG-INFO").read_bytes()),
        File(JAR, (OWNED / "commons-lang3.jar").read_bytes()),
        Symlink("usr/share/java/commons-lang3-3.12.0.jar", "commons-lang3.jar"),
    ]


def _scan(tmp_path: Path, layers: list[list[Entry]]) -> Inventory:
    return image_inventory(tmp_path, ImageSpec(layers))


def _found(inventory: Inventory) -> set[tuple[str, str, str]]:
    """(package, vulnerability, ecosystem) of every finding against the real records."""
    records = [*all_records(), *all_records(OSV_DATA / "distribution-owned")]
    findings = match_inventory(inventory, MemorySource(records))
    return {(f.package.name, f.id, f.ecosystem) for f in findings}


def _language(inventory: Inventory) -> dict[str, Package]:
    return {p.name: p for p in inventory.packages if p.type in ("pypi", "maven")}


def test_packages_apt_installed_are_owned_and_raise_no_language_alarm(tmp_path: Path) -> None:
    inventory = _scan(tmp_path, [debian_base(), _apt_install()])
    language = _language(inventory)
    urllib3, lang3 = language["urllib3"], language["org.apache.commons:commons-lang3"]
    # Still listed, where they were found, and owned by the OS package that installed them.
    assert (urllib3.version, urllib3.location, urllib3.layer.index) == ("1.26.12", EGG_INFO, 1)
    assert urllib3.owner == URLLIB3_DEB
    assert (lang3.version, lang3.location, lang3.owner) == ("3.12.0", JAR, LANG3_DEB)
    # The expected answer: no finding at all. PyPI's GHSA-v845-jxx5-vc9f (urllib3 < 1.26.17)
    # and Maven's GHSA-j288-q9x7-2f5v (commons-lang3 < 3.18.0) do not apply; Debian's
    # DEBIAN-CVE-2023-43804 (python-urllib3 fixed in 1.26.12-1+deb12u1) judges the package.
    assert _found(inventory) == set()


def test_owned_packages_are_judged_by_their_os_package_advisories(tmp_path: Path) -> None:
    # bookworm's first python3-urllib3, 1.26.12-1, predates the fix of CVE-2023-43804.
    inventory = _scan(tmp_path, [debian_base(), _apt_install(urllib3_version="1.26.12-1")])
    assert _found(inventory) == {("python3-urllib3", "CVE-2023-43804", "Debian:12")}
    assert _language(inventory)["urllib3"].owner == URLLIB3_DEB.replace("%2Bdeb12u4", "")


def test_an_upgrade_in_a_later_layer_keeps_the_files_owned(tmp_path: Path) -> None:
    # Layer 1 installs 1.26.12-1; layer 2 upgrades it: dpkg writes the status, the package's
    # .list and its files again.
    upgrade = [e for e in _apt_install() if e.path != JAR and "commons" not in e.path]
    inventory = _scan(tmp_path, [debian_base(), _apt_install(urllib3_version="1.26.12-1"), upgrade])
    urllib3 = _language(inventory)["urllib3"]
    assert (urllib3.owner, urllib3.layer.index) == (URLLIB3_DEB, 1)
    deb = next(p for p in inventory.packages if p.name == "python3-urllib3")
    assert (deb.version, deb.layer.index) == ("1.26.12-1+deb12u4", 2)
    assert _found(inventory) == set()


def test_a_file_written_over_an_owned_one_in_a_later_layer_is_not_owned(tmp_path: Path) -> None:
    # `COPY commons-lang3-3.12.0.jar /usr/share/java/commons-lang3.jar`: Maven Central's jar
    # over Debian's, after apt installed it. The jar is no longer Debian's patched build.
    upstream = java_archive([("org.apache.commons", "commons-lang3", "3.12.0")])
    inventory = _scan(tmp_path, [debian_base(), _apt_install(), [File(JAR, upstream)]])
    lang3 = _language(inventory)["org.apache.commons:commons-lang3"]
    assert lang3.owner is None
    assert _language(inventory)["urllib3"].owner == URLLIB3_DEB
    assert _found(inventory) == {
        ("org.apache.commons:commons-lang3", "CVE-2025-48924", "Maven"),
    }


def test_a_package_removed_by_a_later_layer_owns_nothing(tmp_path: Path) -> None:
    # `apt-get remove python3-urllib3 && pip install urllib3==1.26.12`: dpkg drops the
    # stanza, the .list and the files; pip writes its own copy elsewhere.
    remove = [
        File("var/lib/dpkg/status", _status(with_urllib3=False)),
        whiteout("var/lib/dpkg/info/python3-urllib3.list"),
        whiteout(f"{SITE}/urllib3-1.26.12.egg-info"),
        *dist_info("usr/local/lib/python3.11/dist-packages", "urllib3", "1.26.12"),
    ]
    inventory = _scan(tmp_path, [debian_base(), _apt_install(), remove])
    urllib3 = [p for p in inventory.packages if p.name == "urllib3"]
    assert [(p.location, p.owner) for p in urllib3] == [
        ("usr/local/lib/python3.11/dist-packages/urllib3-1.26.12.dist-info/METADATA", None)
    ]
    assert ("urllib3", "CVE-2023-43804", "PyPI") in _found(inventory)


def test_a_file_list_of_a_package_not_installed_owns_nothing(tmp_path: Path) -> None:
    # dpkg's status is the truth: a .list left behind (a package purged by hand) is ignored.
    layer = [e for e in _apt_install() if e.path != "var/lib/dpkg/status"]
    inventory = _scan(tmp_path, [debian_base(), layer])
    assert {p.name: p.owner for p in _language(inventory).values()} == {
        "urllib3": None,
        "org.apache.commons:commons-lang3": None,
    }


ALPINE_URLLIB3 = """C:Q1Oby0VpAuGJ+b7ZO3ndCyr0MvjS0=
P:py3-urllib3
V:1.26.18-r0
A:noarch
S:94061
I:478042
T:HTTP library with thread-safe connection pooling, file post, and more
U:https://github.com/urllib3/urllib3
L:MIT
o:py3-urllib3
m:Natanael Copa <ncopa@alpinelinux.org>
t:1700000000
c:0123456789abcdef0123456789abcdef01234567
D:python3~3.11
F:usr
F:usr/lib
F:usr/lib/python3.11
F:usr/lib/python3.11/site-packages
F:usr/lib/python3.11/site-packages/urllib3
R:__init__.py
Z:Q1vSRnFUDcFWodWYifzMYXU/ik3vQ=
F:usr/lib/python3.11/site-packages/urllib3-1.26.18.dist-info
R:METADATA
Z:Q16Uwy7gIchXD3HRncxeiUfibBDKo=
R:RECORD
Z:Q16Uwy7gIchXD3HRncxeiUfibBDKo=
"""


def test_apk_files_belong_to_their_package(tmp_path: Path) -> None:
    from tests.scan.content import alpine_base

    base = alpine_base()
    installed = base[-1]
    assert isinstance(installed, File)
    database = installed.data.rstrip(b"\n") + b"\n\n" + ALPINE_URLLIB3.encode()
    site = "usr/lib/python3.11/site-packages"
    with differences(
        "Trivy leaves out a Python package an apk installed (not one dpkg or rpm installed);"
        " cargohold lists it with its owner",
        only_cargohold=[("pypi", "urllib3", "1.26.18")],
    ):
        inventory = _scan(
            tmp_path,
            [
                [
                    *base[:-1],
                    File(installed.path, database),
                    *dist_info(site, "urllib3", "1.26.18"),
                ],
                # pip in a virtualenv: not the distribution's.
                dist_info("app/venv/lib/python3.11/site-packages", "urllib3", "1.26.17"),
            ],
        )
    owners = {p.version: p.owner for p in inventory.packages if p.name == "urllib3"}
    assert owners == {
        "1.26.18": "pkg:apk/alpine/py3-urllib3@1.26.18-r0?arch=noarch&distro=alpine-3.19.1",
        "1.26.17": None,
    }


@pytest.mark.parametrize("usr_first", [True, False])
def test_merged_usr_paths_are_the_same_file(tmp_path: Path, usr_first: bool) -> None:
    # bookworm's packages list /lib/... while merged-/usr images keep the file in usr/lib.
    listed, stored = "lib/python3/dist-packages/x.jar", "usr/lib/python3/dist-packages/x.jar"
    if not usr_first:
        listed, stored = stored, listed
    stanza = (
        b"\nPackage: libx-java\nStatus: install ok installed\nArchitecture: all\n"
        b"Version: 1.0-1\nDescription: x\n"
    )
    layer = [
        File("var/lib/dpkg/status", (DATA / "dpkg" / "status-base").read_bytes() + stanza),
        File("var/lib/dpkg/info/libx-java.list", f"/.\n/{listed}\n".encode()),
        File(stored, java_archive([("org.example", "x", "1.0")])),
    ]
    inventory = _scan(tmp_path, [debian_base(), layer])
    (x,) = [p for p in inventory.packages if p.type == "maven"]
    assert x.owner == "pkg:deb/debian/libx-java@1.0-1?arch=all&distro=debian-12"


def test_sboms_put_owned_packages_under_their_os_package(tmp_path: Path) -> None:
    import io
    import json

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    from cargohold.scan.findings import PlatformResult, ScanResult
    from cargohold.scan.report import WRITERS

    inventory = _scan(tmp_path, [debian_base(), _apt_install()])
    result = ScanResult("debian-apt", [PlatformResult(inventory, [])])

    def render(kind: str) -> str:
        stream = io.StringIO()
        WRITERS[kind](result, stream)
        return stream.getvalue()

    # CycloneDX: the dependency graph goes OS package -> the package it installed.
    text = render("cyclonedx")
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in json.loads(text)["dependencies"]}
    assert graph[URLLIB3_DEB] == {"pkg:pypi/urllib3@1.26.12"}
    assert graph[LANG3_DEB] == {"pkg:maven/org.apache.commons/commons-lang3@3.12.0"}
    assert "pkg:pypi/urllib3@1.26.12" not in graph["debian-apt"]

    # SPDX: the OS package CONTAINS it.
    text = render("spdx")
    (tmp_path / "image.spdx.json").write_text(text)
    assert validate_full_spdx_document(parse_file(str(tmp_path / "image.spdx.json"))) == []
    document = json.loads(text)
    ids = {p["name"]: p["SPDXID"] for p in document["packages"]}
    relationships = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in document["relationships"]
    }
    assert (ids["python3-urllib3"], "CONTAINS", ids["urllib3"]) in relationships
    assert (
        ids["libcommons-lang3-java"],
        "CONTAINS",
        ids["org.apache.commons:commons-lang3"],
    ) in relationships
