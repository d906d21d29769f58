"""Ruby gems, PHP Composer, Rust Cargo.lock, .NET deps.json and conda packages in images.

The gem specification is written by RubyGems (`gem build` + `gem install`), installed.json
by Composer (`composer install` from path repositories, no network), Cargo.lock by cargo
(`generate-lockfile --offline` against a vendored crate). No .NET SDK or conda is
installable here: the deps.json and conda-meta record are written in the form those tools
write (see the fixtures). Each advisory below is a real one, trimmed to the affected
range the test needs.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cargohold.scan import Inventory
from cargohold.scan.findings import PlatformResult, ScanResult
from cargohold.scan.matching import coverage_problems, match_inventory
from cargohold.scan.report import WRITERS
from tests.scan.content import DATA, debian_base
from tests.scan.imagebuild import Entry, File, ImageSpec, image_inventory
from tests.scan.osv_data import MemorySource, advisory

GEM, COMPOSER, CARGO = shutil.which("gem"), shutil.which("composer"), shutil.which("cargo")
OWNED = DATA / "dpkg-owned"
GEM_HOME = "usr/local/bundle"
APP = "srv/app"


def _run(args: list[str], cwd: Path, **env: str) -> None:
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _inventory(tmp_path: Path, layers: list[list[Entry]]) -> Inventory:
    return image_inventory(tmp_path, ImageSpec(layers))


def _tree(root: Path, prefix: str) -> list[Entry]:
    return [
        File(f"{prefix}/{p.relative_to(root)}", p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]


# ---- Ruby gems -------------------------------------------------------------------------

RACK_CVE = advisory("GHSA-wq4h-7r42-5hrr", "RubyGems", ["rack"], "2.2.0", "2.2.3.1")


@pytest.fixture(scope="module")
def gem_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if GEM is None:
        pytest.skip("gem is missing: apt-get install ruby")
    work = tmp_path_factory.mktemp("gem")
    (work / "lib").mkdir()
    (work / "lib" / "rack.rb").write_text("module Rack; end\n")
    (work / "rack.gemspec").write_text(
        'Gem::Specification.new do |s|\n  s.name = "rack"\n  s.version = "2.2.3"\n'
        '  s.summary = "A modular Ruby webserver interface"\n  s.authors = ["Test"]\n'
        '  s.files = ["lib/rack.rb"]\n  s.license = "MIT"\nend\n'
    )
    _run([GEM, "build", "rack.gemspec"], work)
    home = work / "home"
    _run(
        [GEM, "install", "--local", "--no-document", "--install-dir", str(home), "rack-2.2.3.gem"],
        work,
    )
    return home


def test_installed_gems_are_inventoried_and_matched(gem_home: Path, tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, [debian_base(), _tree(gem_home, GEM_HOME)])
    (rack,) = [p for p in inventory.packages if p.type == "gem"]
    assert (rack.name, rack.version, rack.purl) == ("rack", "2.2.3", "pkg:gem/rack@2.2.3")
    assert rack.location == f"{GEM_HOME}/specifications/rack-2.2.3.gemspec"
    fixed_before = advisory("GHSA-fixed-earlier", "RubyGems", ["rack"], "2.2.0", "2.2.3")
    findings = match_inventory(inventory, MemorySource([RACK_CVE, fixed_before]))
    assert [(f.package.name, f.record_id, f.fixed_version) for f in findings] == [
        ("rack", "GHSA-wq4h-7r42-5hrr", "2.2.3.1")
    ]


def test_a_gem_the_distribution_installed_is_owned(tmp_path: Path) -> None:
    status = (
        (DATA / "dpkg" / "status-base").read_bytes() + b"\n" + (OWNED / "status-rake").read_bytes()
    )
    spec = "usr/share/rubygems-integration/all/specifications/rake-13.0.6.gemspec"
    layer: list[Entry] = [
        File("var/lib/dpkg/status", status),
        File("var/lib/dpkg/info/rake.list", (OWNED / "rake.list").read_bytes()),
        File(spec, (OWNED / "rake-13.0.6.gemspec").read_bytes()),
    ]
    inventory = _inventory(tmp_path, [debian_base(), layer])
    (rake,) = [p for p in inventory.packages if p.type == "gem"]
    assert (rake.name, rake.version, rake.location) == ("rake", "13.0.6", spec)
    assert rake.owner == "pkg:deb/debian/rake@13.0.6-3?arch=all&distro=debian-12"
    # Debian's rake package is judged by Debian's advisories, not RubyGems'.
    record = advisory("GHSA-rake-test", "RubyGems", ["rake"], "0", "13.0.7")
    assert match_inventory(inventory, MemorySource([record])) == []
    unowned = advisory("GHSA-rake-test", "RubyGems", ["rake"], "0", "13.0.7")
    layer_without_list = [e for e in layer if not e.path.endswith("rake.list")]
    alone = _inventory(tmp_path / "alone", [debian_base(), layer_without_list])
    assert [f.package.name for f in match_inventory(alone, MemorySource([unowned]))] == ["rake"]


def test_a_file_that_is_not_a_gemspec_is_reported(tmp_path: Path) -> None:
    layer = [File(f"{GEM_HOME}/specifications/broken.gemspec", b"# nothing here\n")]
    inventory = _inventory(tmp_path, [debian_base(), layer])
    assert [p.code for p in inventory.problems] == ["unreadable-file"]


# ---- PHP Composer ----------------------------------------------------------------------

HTTP_KERNEL_CVE = advisory(
    "GHSA-h7vf-5wrv-9fhv", "Packagist", ["symfony/http-kernel"], "5.0.0", "5.4.20"
)


@pytest.fixture(scope="module")
def composer_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if COMPOSER is None:
        pytest.skip("composer is missing: apt-get install composer")
    work = tmp_path_factory.mktemp("composer")
    packages = {"symfony/http-kernel": "v5.4.19", "psr/log": "1.1.4"}
    for name, version in packages.items():
        folder = work / "pkgs" / name.replace("/", "-")
        folder.mkdir(parents=True)
        (folder / "composer.json").write_text(
            json.dumps({"name": name, "version": version, "type": "library"})
        )
    app = work / "app"
    app.mkdir()
    manifest = {
        "name": "shop/app",
        "repositories": [
            {"packagist.org": False},
            {"type": "path", "url": "../pkgs/*", "options": {"symlink": False}},
        ],
        "require": {"symfony/http-kernel": "5.4.19"},
        "require-dev": {"psr/log": "1.1.4"},
    }
    (app / "composer.json").write_text(json.dumps(manifest))
    env = {"COMPOSER_HOME": str(work / "home"), "COMPOSER_ALLOW_SUPERUSER": "1"}
    _run([COMPOSER, "install", "--no-interaction", "--no-progress"], app, **env)
    return app


def test_composer_packages_are_inventoried_and_matched(composer_app: Path, tmp_path: Path) -> None:
    installed = composer_app / "vendor" / "composer" / "installed.json"
    layer = [File(f"{APP}/vendor/composer/installed.json", installed.read_bytes())]
    inventory = _inventory(tmp_path, [debian_base(), layer])
    found = {(p.name, p.version, p.purl) for p in inventory.packages if p.type == "composer"}
    assert found == {
        ("symfony/http-kernel", "v5.4.19", "pkg:composer/symfony/http-kernel@v5.4.19"),
        ("psr/log", "1.1.4", "pkg:composer/psr/log@1.1.4"),
    }
    findings = match_inventory(inventory, MemorySource([HTTP_KERNEL_CVE]))
    assert [(f.package.name, f.installed_version, f.fixed_version) for f in findings] == [
        ("symfony/http-kernel", "v5.4.19", "5.4.20")
    ]


# ---- Rust ------------------------------------------------------------------------------

SMALLVEC_CVE = advisory("RUSTSEC-2021-0003", "crates.io", ["smallvec"], "1.0.0", "1.6.1")


@pytest.fixture(scope="module")
def cargo_lock(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if CARGO is None:
        pytest.skip("cargo is missing")
    work = tmp_path_factory.mktemp("cargo")
    crate = work / "vendor" / "smallvec"
    (crate / "src").mkdir(parents=True)
    (crate / "src" / "lib.rs").write_text("")
    (crate / "Cargo.toml").write_text('[package]\nname = "smallvec"\nversion = "1.6.0"\n')
    checksum = "1a55ca5f3b68e41c979bf8c46a6f1da892ca4db8f94feb0645f3ec6c0e5a6b66"
    (crate / ".cargo-checksum.json").write_text(json.dumps({"files": {}, "package": checksum}))
    app = work / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "main.rs").write_text("fn main() {}\n")
    (app / "Cargo.toml").write_text(
        '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[dependencies]\nsmallvec = "1.6"\n'
    )
    # crates.io is not reachable: cargo resolves against the vendored copy, as `cargo vendor`
    # users do, and writes the lockfile as it would for crates.io.
    (app / ".cargo").mkdir()
    (app / ".cargo" / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "vendored"\n\n'
        f'[source.vendored]\ndirectory = "{work / "vendor"}"\n'
    )
    _run([CARGO, "generate-lockfile", "--offline"], app, CARGO_HOME=str(work / "home"))
    return (app / "Cargo.lock").read_bytes()


def test_cargo_lock_crates_are_inventoried_and_matched(cargo_lock: bytes, tmp_path: Path) -> None:
    assert b'source = "registry+https://github.com/rust-lang/crates.io-index"' in cargo_lock
    inventory = _inventory(tmp_path, [debian_base(), [File(f"{APP}/Cargo.lock", cargo_lock)]])
    # The application's own crate has no source: it is not a dependency.
    crates = [(p.name, p.version, p.purl) for p in inventory.packages if p.type == "cargo"]
    assert crates == [("smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0")]
    findings = match_inventory(inventory, MemorySource([SMALLVEC_CVE]))
    assert [(f.package.name, f.record_id, f.fixed_version) for f in findings] == [
        ("smallvec", "RUSTSEC-2021-0003", "1.6.1")
    ]


# ---- .NET ------------------------------------------------------------------------------

# What `dotnet publish` writes for an app referencing Newtonsoft.Json 12.0.3 (no .NET SDK
# is installable here; the layout is the SDK's: runtimeTarget, targets, libraries).
DEPS_JSON = {
    "runtimeTarget": {"name": ".NETCoreApp,Version=v6.0", "signature": ""},
    "compilationOptions": {},
    "targets": {
        ".NETCoreApp,Version=v6.0": {
            "Shop.Api/1.0.0": {
                "dependencies": {"Newtonsoft.Json": "12.0.3"},
                "runtime": {"Shop.Api.dll": {}},
            },
            "Newtonsoft.Json/12.0.3": {
                "runtime": {
                    "lib/netstandard2.0/Newtonsoft.Json.dll": {
                        "assemblyVersion": "12.0.0.0",
                        "fileVersion": "12.0.3.23909",
                    }
                }
            },
        }
    },
    "libraries": {
        "Shop.Api/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
        "Newtonsoft.Json/12.0.3": {
            "type": "package",
            "serviceable": True,
            "sha512": "sha512-rTK0s2EKlfHsQsH6Yx2smvcTCeyoDNgCW7FEYyV01drPlh2T243PR2DiDXqtC5N4G"
            "Dm4Ma/lkxfW5a/4793vbA==",
            "path": "newtonsoft.json/12.0.3",
            "hashPath": "newtonsoft.json.12.0.3.nupkg.sha512",
        },
    },
}
NEWTONSOFT_CVE = advisory("GHSA-5crp-9r3c-p9vr", "NuGet", ["Newtonsoft.Json"], "0", "13.0.1")


def test_deps_json_packages_are_inventoried_and_matched(tmp_path: Path) -> None:
    layer = [File(f"{APP}/Shop.Api.deps.json", json.dumps(DEPS_JSON, indent=2).encode())]
    inventory = _inventory(tmp_path, [debian_base(), layer])
    packages = [(p.name, p.version, p.purl) for p in inventory.packages if p.type == "nuget"]
    assert packages == [("Newtonsoft.Json", "12.0.3", "pkg:nuget/Newtonsoft.Json@12.0.3")]
    findings = match_inventory(inventory, MemorySource([NEWTONSOFT_CVE]))
    assert [(f.package.name, f.fixed_version) for f in findings] == [("Newtonsoft.Json", "13.0.1")]


def test_nuget_and_packagist_names_match_whatever_their_case(
    composer_app: Path, tmp_path: Path
) -> None:
    # nuget.org and Packagist treat names case-insensitively: an advisory spelling the name
    # differently from the installed metadata is about the same package.
    installed = composer_app / "vendor" / "composer" / "installed.json"
    deps = json.dumps(DEPS_JSON).replace("Newtonsoft.Json/", "newtonsoft.json/")
    layer = [
        File(f"{APP}/Shop.Api.deps.json", deps.encode()),
        File(f"{APP}/vendor/composer/installed.json", installed.read_bytes()),
    ]
    inventory = _inventory(tmp_path, [debian_base(), layer])
    records = [
        advisory("GHSA-5crp-9r3c-p9vr", "NuGet", ["Newtonsoft.Json"], "0", "13.0.1"),
        advisory("GHSA-h7vf-5wrv-9fhv", "Packagist", ["Symfony/Http-Kernel"], "5.0.0", "5.4.20"),
    ]
    findings = match_inventory(inventory, MemorySource(records))
    assert sorted((f.package.name, f.record_id) for f in findings) == [
        ("newtonsoft.json", "GHSA-5crp-9r3c-p9vr"),
        ("symfony/http-kernel", "GHSA-h7vf-5wrv-9fhv"),
    ]


# ---- conda -----------------------------------------------------------------------------

# A conda-meta record as conda writes it on install (trimmed `files`/`paths_data`).
CONDA_RECORD = {
    "build": "py311h06a4308_0",
    "build_number": 0,
    "channel": "https://repo.anaconda.com/pkgs/main/linux-64",
    "depends": ["python >=3.11,<3.12.0a0", "setuptools", "wheel"],
    "files": ["bin/pip", "lib/python3.11/site-packages/pip/__init__.py"],
    "fn": "pip-23.3.1-py311h06a4308_0.conda",
    "license": "MIT",
    "link": {"source": "/opt/conda/pkgs/pip-23.3.1-py311h06a4308_0", "type": 1},
    "md5": "e4b8ad6b8a5e8e4d8a4f2f6d1f8d0f3a",
    "name": "pip",
    "requested_spec": "None",
    "subdir": "linux-64",
    "url": "https://repo.anaconda.com/pkgs/main/linux-64/pip-23.3.1-py311h06a4308_0.conda",
    "version": "23.3.1",
}


def test_conda_packages_are_listed_but_not_matched(tmp_path: Path) -> None:
    layer = [
        File(
            "opt/conda/conda-meta/pip-23.3.1-py311h06a4308_0.json",
            json.dumps(CONDA_RECORD).encode(),
        ),
        File("opt/conda/conda-meta/history", b"==> 2024-01-01 00:00:00 <==\n"),
    ]
    inventory = _inventory(tmp_path, [debian_base(), layer])
    (pip,) = [p for p in inventory.packages if p.type == "conda"]
    assert (pip.name, pip.version, pip.purl) == ("pip", "23.3.1", "pkg:conda/pip@23.3.1")
    assert inventory.problems == [] and coverage_problems(inventory) == []
    anything = advisory("PYSEC-any", "PyPI", ["pip"], "0", "99")
    assert match_inventory(inventory, MemorySource([anything])) == []


# ---- SBOMs -----------------------------------------------------------------------------


def test_sboms_carry_every_new_ecosystem(
    gem_home: Path, composer_app: Path, cargo_lock: bytes, tmp_path: Path
) -> None:
    installed = (composer_app / "vendor" / "composer" / "installed.json").read_bytes()
    layer = [
        *_tree(gem_home, GEM_HOME),
        File(f"{APP}/vendor/composer/installed.json", installed),
        File(f"{APP}/Cargo.lock", cargo_lock),
        File(f"{APP}/Shop.Api.deps.json", json.dumps(DEPS_JSON).encode()),
        File("opt/conda/conda-meta/pip.json", json.dumps(CONDA_RECORD).encode()),
    ]
    inventory = _inventory(tmp_path, [debian_base(), layer])
    wanted = {
        "pkg:gem/rack@2.2.3",
        "pkg:composer/symfony/http-kernel@v5.4.19",
        "pkg:cargo/smallvec@1.6.0",
        "pkg:nuget/Newtonsoft.Json@12.0.3",
        "pkg:conda/pip@23.3.1",
    }
    result = ScanResult("oci:app", [PlatformResult(inventory, [])])
    for kind in ("cyclonedx", "spdx"):
        stream = io.StringIO()
        WRITERS[kind](result, stream)
        assert wanted <= set(_purls(json.loads(stream.getvalue()))), kind


def _purls(document: Any) -> list[str]:
    if "components" in document:
        return [c.get("purl", "") for c in document["components"]]
    return [
        ref["referenceLocator"]
        for package in document["packages"]
        for ref in package.get("externalRefs", [])
        if ref.get("referenceType") == "purl"
    ]
