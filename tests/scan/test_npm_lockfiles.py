"""npm lockfiles (v1, v2, v3): pinned packages, each install location reported once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cargohold.scan import Inventory
from tests.scan.content import npm_package
from tests.scan.imagebuild import Entry, File, ImageSpec, image_inventory

APP = "usr/src/app"
LOCK = f"{APP}/package-lock.json"
SHA = "sha512-" + "A" * 86 + "=="


def _registry(package: str, version: str, **extra: Any) -> dict[str, Any]:
    bare = package.rpartition("/")[2]
    tarball = f"https://registry.npmjs.org/{package}/-/{bare}-{version}.tgz"
    return {"version": version, "resolved": tarball, "integrity": SHA, **extra}


def _v3_packages() -> dict[str, Any]:
    """The same install tree in every lockfile version below (npm 7+ `packages` form)."""
    return {
        "": {
            "name": "shop",
            "version": "1.0.0",
            "workspaces": ["packages/*"],
            "dependencies": {"express": "^4.18.2", "lodash": "4.17.20", "string-width-cjs": "*"},
            "devDependencies": {"jest": "^29.7.0"},
        },
        "node_modules/express": _registry("express", "4.18.2"),
        "node_modules/express/node_modules/debug": _registry("debug", "2.6.9"),
        "node_modules/lodash": _registry("lodash", "4.17.20"),
        "node_modules/@babel/core": _registry("@babel/core", "7.23.7", dev=True),
        "node_modules/jest": _registry("jest", "29.7.0", dev=True),
        # An alias: installed under another name.
        "node_modules/string-width-cjs": _registry("string-width", "4.2.3", name="string-width"),
        # A workspace: local code, linked into node_modules.
        "node_modules/shared": {"resolved": "packages/shared", "link": True},
        "packages/shared": {"name": "shared", "version": "0.0.1"},
    }


def _v1_dependencies() -> dict[str, Any]:
    return {
        "express": _registry(
            "express", "4.18.2", dependencies={"debug": _registry("debug", "2.6.9")}
        ),
        "lodash": _registry("lodash", "4.17.20"),
        "@babel/core": _registry("@babel/core", "7.23.7", dev=True),
        "jest": _registry("jest", "29.7.0", dev=True),
        "string-width-cjs": {"version": "npm:string-width@4.2.3", "integrity": SHA},
        # A git dependency pins a commit, not a version.
        "left-pad": {"version": "git+https://github.com/left-pad/left-pad.git#2fca615"},
    }


def lockfile(version: int) -> bytes:
    document: dict[str, Any] = {"name": "shop", "version": "1.0.0", "lockfileVersion": version}
    if version >= 2:
        document["packages"] = _v3_packages()
    if version <= 2:
        document["dependencies"] = _v1_dependencies()
    document["requires"] = True
    return json.dumps(document, indent=2).encode()


def _inventory(tmp_path: Path, entries: list[Entry]) -> Inventory:
    return image_inventory(tmp_path, ImageSpec([entries]))


def _found(inventory: Inventory) -> set[tuple[str, str, str]]:
    return {(p.name, p.version, p.location) for p in inventory.packages}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_lockfile_without_node_modules(tmp_path: Path, version: int) -> None:
    # A source tree copied into the image before `npm ci` ran, or without it.
    inventory = _inventory(tmp_path, [File(LOCK, lockfile(version))])
    # Not reported: the project itself, the workspace, dev dependencies, git pins.
    assert _found(inventory) == {
        ("express", "4.18.2", LOCK),
        ("debug", "2.6.9", LOCK),
        ("lodash", "4.17.20", LOCK),
        ("string-width", "4.2.3", LOCK),
    }
    purls = {p.purl for p in inventory.packages}
    assert "pkg:npm/string-width@4.2.3" in purls
    assert inventory.problems == []


def test_installed_packages_replace_their_lockfile_entries(tmp_path: Path) -> None:
    inventory = _inventory(
        tmp_path,
        [
            File(LOCK, lockfile(3)),
            npm_package(APP, "express", "4.18.2"),
            # Installed after the lockfile was written: the installed version counts.
            npm_package(APP, "lodash", "4.17.21"),
            # The alias is installed under node_modules/string-width-cjs.
            File(
                f"{APP}/node_modules/string-width-cjs/package.json",
                b'{"name": "string-width", "version": "4.2.3"}',
            ),
            # debug is not installed where the lockfile puts it (under express).
        ],
    )
    installed = f"{APP}/node_modules/%s/package.json"
    assert _found(inventory) == {
        ("express", "4.18.2", installed % "express"),
        ("lodash", "4.17.21", installed % "lodash"),
        ("string-width", "4.2.3", installed % "string-width-cjs"),
        ("debug", "2.6.9", LOCK),
    }


def test_the_same_package_at_two_install_locations(tmp_path: Path) -> None:
    packages = {
        "": {"name": "x", "version": "1.0.0"},
        "node_modules/a": _registry("a", "1.0.0"),
        "node_modules/a/node_modules/ms": _registry("ms", "2.0.0"),
        "node_modules/b": _registry("b", "1.0.0"),
        "node_modules/b/node_modules/ms": _registry("ms", "2.0.0"),
        "node_modules/ms": _registry("ms", "2.1.3"),
    }
    document = {"name": "x", "lockfileVersion": 3, "packages": packages}
    inventory = _inventory(tmp_path, [File(LOCK, json.dumps(document).encode())])
    # One package per name and version in one lockfile, as one finding per package needs.
    assert sorted((p.name, p.version) for p in inventory.packages) == [
        ("a", "1.0.0"),
        ("b", "1.0.0"),
        ("ms", "2.0.0"),
        ("ms", "2.1.3"),
    ]


def test_lockfiles_inside_node_modules_are_not_read(tmp_path: Path) -> None:
    inventory = _inventory(
        tmp_path,
        [
            npm_package(APP, "express", "4.18.2"),
            File(f"{APP}/node_modules/express/package-lock.json", lockfile(3)),
            File(f"{APP}/node_modules/.package-lock.json", lockfile(3)),
        ],
    )
    assert _found(inventory) == {("express", "4.18.2", f"{APP}/node_modules/express/package.json")}


def test_npm_shrinkwrap_is_a_lockfile(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, [File("app/npm-shrinkwrap.json", lockfile(2))])
    assert ("lodash", "4.17.20", "app/npm-shrinkwrap.json") in _found(inventory)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"{not json", "not valid JSON"), (b'{"lockfileVersion": "three"}', "lockfileVersion")],
)
def test_a_damaged_lockfile_is_a_problem(tmp_path: Path, data: bytes, message: str) -> None:
    inventory = _inventory(tmp_path, [File(LOCK, data)])
    (problem,) = inventory.problems
    assert (problem.code, problem.location) == ("unreadable-file", LOCK)
    assert message in problem.message and not problem.blocking
