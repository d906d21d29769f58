"""Python and npm packages anywhere in the image, as their own metadata states them."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from cargohold.scan import Inventory
from tests.scan.content import dist_info, npm_package
from tests.scan.imagebuild import Dir, Entry, File, ImageSpec, image_inventory, opaque
from tests.scan.trivy_compare import differences

VENV_SITE = "app/.venv/lib/python3.11/site-packages"
SYSTEM_SITE = "usr/local/lib/python3.11/site-packages"


def _python_entries() -> list[Entry]:
    legacy_egg_file = b"Metadata-Version: 1.0\nName: six\nVersion: 1.16.0\nSummary: py2/3\n"
    setuptools_egg = b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n"
    return [
        *dist_info(VENV_SITE, "Flask", "3.0.0"),
        *dist_info(VENV_SITE, "typing_extensions", "4.9.0"),
        *dist_info(SYSTEM_SITE, "pip", "23.2.1"),
        File(f"{SYSTEM_SITE}/six-1.16.0-py3.11.egg-info", legacy_egg_file),
        File(f"{SYSTEM_SITE}/Jinja2-3.1.2-py3.11.egg-info/PKG-INFO", setuptools_egg),
        # A README inside a dist-info folder is not metadata.
        File(f"{SYSTEM_SITE}/pip-23.2.1.dist-info/LICENSE.txt", b"MIT"),
    ]


def _write(entries: list[Entry], root: Path) -> None:
    for entry in entries:
        if isinstance(entry, File):
            path = root / entry.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(entry.data)


def _inventory(tmp_path: Path, spec: ImageSpec) -> Inventory:
    return image_inventory(tmp_path, spec)


def test_python_packages_equal_what_importlib_metadata_finds(tmp_path: Path) -> None:
    entries = _python_entries()
    _write(entries, tmp_path / "rootfs")
    expected = {
        (dist.metadata["Name"], dist.version)
        for site in (VENV_SITE, SYSTEM_SITE)
        for dist in importlib.metadata.distributions(path=[str(tmp_path / "rootfs" / site)])
    }
    inventory = _inventory(tmp_path, ImageSpec(layers=[entries]))
    assert {(p.name, p.version) for p in inventory.packages if p.type == "pypi"} == expected
    assert len(expected) == 5
    purls = {p.purl for p in inventory.packages}
    assert "pkg:pypi/flask@3.0.0" in purls
    assert "pkg:pypi/typing-extensions@4.9.0" in purls


def test_npm_packages_under_node_modules_including_scoped_and_nested(tmp_path: Path) -> None:
    app = "usr/src/app"
    entries: list[Entry] = [
        File(f"{app}/package.json", b'{"name": "my-app", "version": "1.0.0"}'),
        npm_package(app, "express", "4.18.2"),
        npm_package(app, "@babel/core", "7.23.7"),
        npm_package(f"{app}/node_modules/express", "debug", "2.6.9"),
        # Files inside a package are not packages, even when named package.json.
        File(f"{app}/node_modules/express/lib/package.json", b'{"name": "x", "version": "9"}'),
        File(f"{app}/node_modules/.package-lock.json", b"{}"),
    ]
    with differences(
        "Trivy takes every package.json for a package: the project's own, outside"
        " node_modules, and a file inside a package (lib/package.json)",
        only_trivy=[("npm", "my-app", "1.0.0"), ("npm", "x", "9")],
    ):
        inventory = _inventory(tmp_path, ImageSpec(layers=[entries]))
    found = {(p.name, p.version, p.purl) for p in inventory.packages}
    assert found == {
        ("express", "4.18.2", "pkg:npm/express@4.18.2"),
        ("@babel/core", "7.23.7", "pkg:npm/%40babel/core@7.23.7"),
        ("debug", "2.6.9", "pkg:npm/debug@2.6.9"),
    }


def test_opaque_directory_hides_the_packages_below_it(tmp_path: Path) -> None:
    # `RUN rm -rf node_modules && npm ci` in a later layer: the directory is recreated opaque.
    app = "usr/src/app"
    spec = ImageSpec(
        layers=[
            [npm_package(app, "lodash", "4.17.20"), npm_package(app, "minimist", "1.2.5")],
            [Dir(f"{app}/node_modules"), opaque(f"{app}/node_modules")],
            [npm_package(app, "lodash", "4.17.21")],
        ],
        compression=["gzip", "zstd", "gzip"],
    )
    inventory = _inventory(tmp_path, spec)
    assert {(p.name, p.version, p.layer.index) for p in inventory.packages} == {
        ("lodash", "4.17.21", 2)
    }


def test_damaged_metadata_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    entries: list[Entry] = [
        File("app/node_modules/broken/package.json", b"{not json"),
        *dist_info(SYSTEM_SITE, "idna", "3.6"),
    ]
    inventory = _inventory(tmp_path, ImageSpec(layers=[entries]))
    assert [(p.name, p.version) for p in inventory.packages] == [("idna", "3.6")]
    assert [(p.code, p.location) for p in inventory.problems] == [
        ("unreadable-file", "app/node_modules/broken/package.json")
    ]
    assert not inventory.problems[0].blocking


def test_a_versions_list_matches_by_pep_440_equality(tmp_path: Path) -> None:
    # certifi released "2020.12.05"; the wheel's METADATA (and pip) says 2020.12.5. A record
    # listing the release string (a `versions`-only record in the shape of PyPI's, made here)
    # must match the installed package, and only that release.
    from cargohold.scan.matching import match_inventory
    from cargohold.scan.osv import parse_record
    from tests.scan.osv_data import MemorySource

    record = parse_record(
        {
            "id": "PYSEC-2099-1",
            "modified": "2024-01-01T00:00:00Z",
            "aliases": ["CVE-2099-1"],
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "certifi"},
                    "versions": ["2020.11.08", "2020.12.05"],
                }
            ],
        }
    )
    installed = _inventory(tmp_path, ImageSpec([dist_info(SYSTEM_SITE, "certifi", "2020.12.5")]))
    findings = match_inventory(installed, MemorySource([record]))
    assert [(f.package.version, f.id) for f in findings] == [("2020.12.5", "CVE-2099-1")]
    newer = _inventory(
        tmp_path / "newer", ImageSpec([dist_info(SYSTEM_SITE, "certifi", "2021.5.30")])
    )
    assert match_inventory(newer, MemorySource([record])) == []
