"""RPM images: the SQLite rpmdb is read; other rpmdb formats are a blocking problem."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from cargohold.scan import Inventory
from tests.scan.imagebuild import File, ImageSpec, image_inventory

FEDORA_OS_RELEASE = (
    b'NAME="Fedora Linux"\nVERSION="39 (Container Image)"\nID=fedora\nVERSION_ID=39\n'
)


def rpm_header(tags: dict[int, str | int]) -> bytes:
    """An RPM header blob as rpm stores it in rpmdb.sqlite (no lead, no magic)."""
    index, store = b"", b""
    for tag, value in sorted(tags.items()):
        if isinstance(value, int):
            store += b"\0" * (-len(store) % 4)  # int32 data is 4-byte aligned
            index += struct.pack(">iiii", tag, 4, len(store), 1)
            store += struct.pack(">i", value)
        else:
            index += struct.pack(">iiii", tag, 6, len(store), 1)
            store += value.encode() + b"\0"
    return struct.pack(">ii", len(tags), len(store)) + index + store


def rpmdb_sqlite(path: Path, packages: list[dict[int, str | int]]) -> bytes:
    """The schema rpm 4.16+ creates: Packages(hnum, blob) plus index tables."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB)")
    connection.execute("CREATE TABLE Name (key TEXT, hnum INTEGER, idx INTEGER)")
    for package in packages:
        connection.execute("INSERT INTO Packages (blob) VALUES (?)", (rpm_header(package),))
    connection.commit()
    connection.close()
    return path.read_bytes()


NAME, VERSION, RELEASE, EPOCH, ARCH, SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
FEDORA_PACKAGES: list[dict[int, str | int]] = [
    {NAME: "bash", VERSION: "5.2.21", RELEASE: "1.fc39", ARCH: "x86_64",
     SOURCERPM: "bash-5.2.21-1.fc39.src.rpm"},
    {NAME: "openssl-libs", VERSION: "3.1.1", RELEASE: "4.fc39", EPOCH: 1, ARCH: "x86_64",
     SOURCERPM: "openssl-3.1.1-4.fc39.src.rpm"},
    {NAME: "tzdata", VERSION: "2024a", RELEASE: "2.fc39", ARCH: "noarch",
     SOURCERPM: "tzdata-2024a-2.fc39.src.rpm"},
    {NAME: "gpg-pubkey", VERSION: "18b8e74c", RELEASE: "62f2920f"},
]  # fmt: skip


def _inventory(tmp_path: Path, files: list[File]) -> Inventory:
    spec = ImageSpec(layers=[[File("etc/os-release", FEDORA_OS_RELEASE), *files]])
    return image_inventory(tmp_path, spec)


@pytest.mark.parametrize("directory", ["var/lib/rpm", "usr/lib/sysimage/rpm"])
def test_sqlite_rpmdb_packages(tmp_path: Path, directory: str) -> None:
    db = rpmdb_sqlite(tmp_path / "rpmdb.sqlite", FEDORA_PACKAGES)
    inventory = _inventory(tmp_path, [File(f"{directory}/rpmdb.sqlite", db)])
    found = {
        (p.name, p.version, p.arch, p.source_name, p.source_version) for p in inventory.packages
    }
    # gpg-pubkey entries are imported signing keys, not installed software.
    assert found == {
        ("bash", "5.2.21-1.fc39", "x86_64", "bash", "5.2.21-1.fc39"),
        ("openssl-libs", "1:3.1.1-4.fc39", "x86_64", "openssl", "3.1.1-4.fc39"),
        ("tzdata", "2024a-2.fc39", "noarch", "tzdata", "2024a-2.fc39"),
    }
    openssl = next(p for p in inventory.packages if p.name == "openssl-libs")
    assert openssl.purl == (
        "pkg:rpm/fedora/openssl-libs@3.1.1-4.fc39?arch=x86_64&distro=fedora-39&epoch=1"
    )
    assert inventory.problems == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [("var/lib/rpm/Packages", "BerkeleyDB"), ("usr/lib/sysimage/rpm/Packages.db", "ndb")],
)
def test_damaged_legacy_rpmdbs_are_a_blocking_problem(tmp_path: Path, name: str, kind: str) -> None:
    # A Berkeley DB hash magic with nothing behind it, and no ndb header: damaged rpmdbs.
    inventory = _inventory(tmp_path, [File(name, b"\0" * 12 + b"\x61\x15\x06\x00" + b"\0" * 4080)])
    assert inventory.packages == []
    (problem,) = inventory.problems
    assert problem.code == "os-packages-not-inventoried"
    assert problem.blocking
    assert kind in problem.message and problem.location == name


def test_a_damaged_sqlite_rpmdb_is_a_blocking_problem(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, [File("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0junk")])
    assert [p.code for p in inventory.problems] == ["os-packages-not-inventoried"]


def test_a_damaged_rpm_header_is_a_blocking_problem(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "rpmdb.sqlite")
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
    connection.execute("INSERT INTO Packages (blob) VALUES (?)", (struct.pack(">ii", 99, 99),))
    connection.commit()
    connection.close()
    db = (tmp_path / "rpmdb.sqlite").read_bytes()
    inventory = _inventory(tmp_path, [File("var/lib/rpm/rpmdb.sqlite", db)])
    (problem,) = inventory.problems
    assert problem.blocking and "damaged RPM header" in problem.message
