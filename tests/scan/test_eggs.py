"""Python eggs: zipped `.egg` files and `.egg` directories, as setuptools builds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cargohold.scan import Inventory
from cargohold.scan.matching import match_inventory
from cargohold.scan.model import UNREADABLE_FILE
from tests.scan.imagebuild import Entry, File, ImageSpec, image_inventory
from tests.scan.osv_data import MemorySource, all_records

SITE = "usr/local/lib/python3.11/site-packages"


def bdist_egg(work: Path, name: str, version: str) -> Path:
    """The egg `setup.py bdist_egg` (setuptools, as easy_install used) builds."""
    project = work / f"{name}-src"
    (project / name).mkdir(parents=True)
    (project / name / "__init__.py").write_text("")
    (project / "setup.py").write_text(
        "from setuptools import setup\n"
        f"setup(name={name!r}, version={version!r}, packages=[{name!r}])\n"
    )
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "bdist_egg"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (egg,) = (project / "dist").glob("*.egg")
    return egg


@pytest.fixture(scope="module")
def eggs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("eggs")
    return {
        "requests": bdist_egg(work, "requests", "2.28.1"),
        "urllib3": bdist_egg(work, "urllib3", "1.26.12"),
    }


def _unzipped(egg: Path) -> list[Entry]:
    """The egg installed unzipped (zip_safe=False): a NAME.egg directory."""
    with zipfile.ZipFile(egg) as archive:
        return [
            File(f"{SITE}/{egg.name}/{info.filename}", archive.read(info))
            for info in archive.infolist()
            if not info.is_dir()
        ]


def _scan(tmp_path: Path, entries: list[Entry]) -> Inventory:
    return image_inventory(tmp_path, ImageSpec([entries]))


def test_zipped_and_unzipped_eggs_are_inventoried_and_matched(
    eggs: dict[str, Path], tmp_path: Path
) -> None:
    requests, urllib3 = eggs["requests"], eggs["urllib3"]
    inventory = _scan(
        tmp_path, [File(f"{SITE}/{requests.name}", requests.read_bytes()), *_unzipped(urllib3)]
    )
    found = {(p.name, p.version, p.location) for p in inventory.packages}
    assert found == {
        ("requests", "2.28.1", f"{SITE}/requests-2.28.1-py3.11.egg"),
        ("urllib3", "1.26.12", f"{SITE}/urllib3-1.26.12-py3.11.egg/EGG-INFO/PKG-INFO"),
    }
    assert inventory.problems == []
    # The expected answer, from the real records in tests/data/osv: requests 2.28.1 has
    # CVE-2023-32681 (fixed 2.31.0); urllib3 1.26.12 has CVE-2023-45803 (fixed 1.26.18).
    findings = match_inventory(inventory, MemorySource(all_records()))
    assert {(f.package.name, f.id, f.fixed_version) for f in findings} == {
        ("requests", "CVE-2023-32681", "2.31.0"),
        ("urllib3", "CVE-2023-45803", "1.26.18"),
    }


def test_a_damaged_egg_is_an_unreadable_file(eggs: dict[str, Path], tmp_path: Path) -> None:
    cut = eggs["requests"].read_bytes()[:100]
    inventory = _scan(
        tmp_path,
        [File(f"{SITE}/broken-1.0-py3.11.egg", cut), File(f"{SITE}/empty.egg", b"")],
    )
    assert inventory.packages == []
    assert sorted((p.code, p.location) for p in inventory.problems) == [
        (UNREADABLE_FILE, f"{SITE}/broken-1.0-py3.11.egg"),
        (UNREADABLE_FILE, f"{SITE}/empty.egg"),
    ]
