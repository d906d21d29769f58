"""Go binaries built by the real toolchain: modules and the toolchain from their build info."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from cargohold.scan import Inventory, Package
from cargohold.scan.gobinary import INFO_END, INFO_START, stdlib_version
from cargohold.scan.matching import match_inventory
from cargohold.scan.osv import parse_record
from cargohold.scan.overlay import MAX_FILE_SIZE
from tests.scan.imagebuild import File, ImageSpec, image_inventory, whiteout
from tests.scan.osv_data import MemorySource
from tests.scan.trivy_compare import differences

GO = shutil.which("go")
pytestmark = pytest.mark.skipif(GO is None, reason="go is missing: apt-get install golang-go")

LIB = 'package lib\n\nfunc Name() string { return "%s" }\n'
APP_GO_MOD = """module example.com/app

go 1.19

require (
\texample.com/dep v1.2.3
\texample.com/lib v0.4.1
)

replace example.com/dep => ../dep

replace example.com/lib => example.com/libfork v0.5.0
"""
APP_MAIN = """package main

import (
\t"fmt"

\t"example.com/dep"
\t"example.com/lib"
)

func main() { fmt.Println(dep.Hello(), lib.Name()) }
"""
TOOL_MAIN = """package main

import (
\t"fmt"

\t"example.com/lib"
)

func main() { fmt.Println(lib.Name()) }
"""


@dataclass(frozen=True)
class GoBuilds:
    goversion: str  # `go env GOVERSION`, e.g. go1.19.8
    app: bytes  # built in a checkout: dep replaced by a directory, lib by a fork
    tool: bytes  # `go install example.com/tool@v1.0.0`: a versioned main module
    listings: dict[str, str]  # `go version -m` of each


def _publish(proxy: Path, path: str, version: str, go_mod: str, files: dict[str, str]) -> None:
    """A module version in a file:// module proxy (GOPROXY protocol, on disk)."""
    folder = proxy / path / "@v"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "list").open("a") as listing:
        listing.write(version + "\n")
    (folder / f"{version}.info").write_text(json.dumps({"Version": version}))
    (folder / f"{version}.mod").write_text(go_mod)
    with zipfile.ZipFile(folder / f"{version}.zip", "w") as archive:
        archive.writestr(f"{path}@{version}/go.mod", go_mod)
        for name, text in files.items():
            archive.writestr(f"{path}@{version}/{name}", text)


def _go(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    assert GO is not None
    result = subprocess.run(
        [GO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def go_builds(tmp_path_factory: pytest.TempPathFactory) -> GoBuilds:
    root = tmp_path_factory.mktemp("go")
    proxy = root / "proxy"
    # The module proxy is unreachable; a file:// proxy written here serves the modules.
    lib_mod = "module example.com/lib\n\ngo 1.19\n"
    _publish(proxy, "example.com/lib", "v0.4.1", lib_mod, {"lib.go": LIB % "lib"})
    # A fork keeps the original module line, as forks used with `replace` do.
    _publish(proxy, "example.com/libfork", "v0.5.0", lib_mod, {"lib.go": LIB % "fork"})
    tool_mod = "module example.com/tool\n\ngo 1.19\n\nrequire example.com/lib v0.4.1\n"
    _publish(proxy, "example.com/tool", "v1.0.0", tool_mod, {"main.go": TOOL_MAIN})
    (root / "dep").mkdir()
    (root / "dep" / "go.mod").write_text("module example.com/dep\n\ngo 1.19\n")
    (root / "dep" / "dep.go").write_text('package dep\n\nfunc Hello() string { return "hi" }\n')
    (root / "app").mkdir()
    (root / "app" / "go.mod").write_text(APP_GO_MOD)
    (root / "app" / "main.go").write_text(APP_MAIN)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "GOCACHE": str(root / "cache"),
        "GOPATH": str(root / "gopath"),
        "GOBIN": str(root / "bin"),
        "GOFLAGS": "-mod=mod",
        "GOPROXY": f"file://{proxy}",
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    _go(["build", "-o", str(root / "app.bin"), "."], root / "app", env)
    _go(["install", "example.com/tool@v1.0.0"], root, env)
    binaries = {"app": root / "app.bin", "tool": root / "bin" / "tool"}
    return GoBuilds(
        goversion=_go(["env", "GOVERSION"], root, env).strip(),
        app=binaries["app"].read_bytes(),
        tool=binaries["tool"].read_bytes(),
        listings={
            name: _go(["version", "-m", str(path)], root, env) for name, path in binaries.items()
        },
    )


def _local_replacement() -> Any:
    """The app's dependency replaced by a directory: cargohold reports it as required."""
    return differences(
        "Trivy leaves out a module replaced by a local directory; cargohold keeps the path "
        "and version it was required as",
        only_cargohold=[("golang", "example.com/dep", "1.2.3")],
    )


def _inventory(tmp_path: Path, layers: list[list[File]]) -> Inventory:
    return image_inventory(tmp_path, ImageSpec(layers=layers))


def _golang(inventory: Inventory, location: str) -> dict[str, Package]:
    return {p.name: p for p in inventory.packages if p.type == "golang" and p.location == location}


def _listed_modules(listing: str) -> set[tuple[str, str]]:
    """(path, version) of every module line (mod, dep, =>) `go version -m` prints."""
    modules = set()
    for line in listing.splitlines():
        fields = line.strip().split("\t")
        if fields[0] in ("mod", "dep", "=>") and len(fields) >= 3:
            modules.add((fields[1], fields[2]))
    return modules


def test_modules_and_toolchain_equal_the_build_info(go_builds: GoBuilds, tmp_path: Path) -> None:
    with _local_replacement():
        inventory = _inventory(
            tmp_path,
            [
                [
                    File("usr/local/bin/app", go_builds.app, 0o755),
                    File("opt/tools/bin/tool", go_builds.tool, 0o755),
                ]
            ],
        )
    stdlib = go_builds.goversion.removeprefix("go")
    app = _golang(inventory, "usr/local/bin/app")
    # The main module of a checkout build is "(devel)": not a version anyone can look up.
    # A module replaced by a directory keeps its required version; by a fork, the fork.
    assert {(p.name, p.version) for p in app.values()} == {
        ("example.com/dep", "v1.2.3"),
        ("example.com/libfork", "v0.5.0"),
        ("stdlib", stdlib),
    }
    tool = _golang(inventory, "opt/tools/bin/tool")
    assert {(p.name, p.version) for p in tool.values()} == {
        ("example.com/tool", "v1.0.0"),
        ("example.com/lib", "v0.4.1"),
        ("stdlib", stdlib),
    }
    for name, found in (("app", app), ("tool", tool)):
        listing = go_builds.listings[name]
        assert listing.splitlines()[0].endswith(f": {go_builds.goversion}")
        modules = {(p.name, p.version) for p in found.values() if p.name != "stdlib"}
        assert modules <= _listed_modules(listing)
    assert tool["stdlib"].purl == f"pkg:golang/stdlib@{stdlib}"
    assert tool["example.com/tool"].purl == "pkg:golang/example.com/tool@v1.0.0"
    assert app["example.com/dep"].layer.index == 0
    assert inventory.problems == []


def test_only_files_with_an_executable_bit_are_read(go_builds: GoBuilds, tmp_path: Path) -> None:
    inventory = _inventory(
        tmp_path,
        [
            [
                File("srv/backup/app", go_builds.app, 0o644),
                File("usr/bin/hello.sh", b"#!/bin/sh\necho hello\n", 0o755),
                File("usr/bin/not-go", _elf(wide=True, little=True, buildinfo=False), 0o755),
            ]
        ],
    )
    assert inventory.packages == []
    assert inventory.problems == []


def test_a_binary_is_read_whatever_its_size(go_builds: GoBuilds, tmp_path: Path) -> None:
    # Zeros after the ELF content: bigger than any file the scanner keeps whole.
    padded = go_builds.app + bytes(MAX_FILE_SIZE + 1 - len(go_builds.app))
    spec = ImageSpec(layers=[[File("app", padded, 0o755)]], compression=["none"])
    with _local_replacement():
        inventory = image_inventory(tmp_path, spec)
    assert "example.com/dep" in _golang(inventory, "app")
    assert inventory.problems == []


def test_each_module_belongs_to_the_layer_that_put_its_binary_there(
    go_builds: GoBuilds, tmp_path: Path
) -> None:
    inventory = _inventory(
        tmp_path,
        [
            [File("app/server", go_builds.app, 0o755)],
            # `chmod`/`chown` copies the unchanged binary up into a new layer.
            [File("app/server", go_builds.app, 0o755)],
            # A rebuilt binary at the same path: the lib fork is gone, lib comes back.
            [File("app/server", go_builds.tool, 0o755)],
        ],
    )
    layer_of = {p.name: p.layer.index for p in _golang(inventory, "app/server").values()}
    assert layer_of == {"example.com/tool": 2, "example.com/lib": 2, "stdlib": 0}


def test_a_binary_deleted_by_a_later_layer_is_not_reported(
    go_builds: GoBuilds, tmp_path: Path
) -> None:
    with _local_replacement():
        inventory = _inventory(
            tmp_path,
            [
                [
                    File("usr/local/bin/app", go_builds.app, 0o755),
                    File("usr/local/bin/tool", go_builds.tool, 0o755),
                ],
                [whiteout("usr/local/bin/tool")],
            ],
        )
    assert {p.location for p in inventory.packages} == {"usr/local/bin/app"}
    assert "example.com/lib" not in {p.name for p in inventory.packages}


# --- Go 1.13-1.17 binaries: the build info holds pointers to two Go strings ------------

_RO_ADDR, _RW_ADDR, _RO_OFFSET, _RW_OFFSET = 0x401000, 0x402000, 0x1000, 0x2000
OLD_MODINFO = (
    "path\texample.com/old\nmod\texample.com/old\tv0.9.0\th1:abc=\n"
    "dep\tgolang.org/x/text\tv0.3.5\th1:def=\n"
)


def _elf(wide: bool, little: bool, buildinfo: bool = True) -> bytes:
    """A minimal ELF executable laid out as the Go linker lays out a Go 1.16 binary: read-only
    data first (string bytes), then a writable segment with the pointer-format build info."""
    order = "<" if little else ">"
    pointer = "Q" if wide else "I"
    version, modinfo = b"go1.16.15", INFO_START + OLD_MODINFO.encode() + INFO_END
    # Read-only data: a decoy (debug/buildinfo's own magic constant, 16-byte aligned,
    # followed by bytes that would parse as inline build info), then the two strings.
    decoy = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + b"\x08go1.99.0\x00"
    rodata = decoy.ljust(64, b"\0") + version.ljust(64, b"\0") + modinfo
    version_addr, modinfo_addr = _RO_ADDR + 64, _RO_ADDR + 128
    size = 8 if wide else 4
    header = b"\xff Go buildinf:" + bytes([size, 0 if little else 1])
    strings_at = _RW_ADDR + 32
    header += struct.pack(order + pointer * 2, strings_at, strings_at + 2 * size).ljust(16, b"\0")
    data = header + struct.pack(
        order + pointer * 4, version_addr, len(version), modinfo_addr, len(modinfo)
    )
    if not buildinfo:
        data = bytes(len(data))
    segments = [(_RO_OFFSET, _RO_ADDR, len(rodata), 4), (_RW_OFFSET, _RW_ADDR, len(data), 6)]
    if wide:
        ident = b"\x7fELF" + bytes([2, 1 if little else 2, 1])
        head = struct.pack(
            order + "16sHHIQQQIHHHHHH", ident, 2, 62, 1, 0x401000, 64, 0, 0, 64, 56, 2, 64, 0, 0
        )
        phdrs = b"".join(
            struct.pack(order + "IIQQQQQQ", 1, flags, offset, addr, addr, n, n, 0x1000)
            for offset, addr, n, flags in segments
        )
    else:
        ident = b"\x7fELF" + bytes([1, 1 if little else 2, 1])
        head = struct.pack(
            order + "16sHHIIIIIHHHHHH", ident, 2, 8, 1, 0x401000, 52, 0, 0, 52, 32, 2, 40, 0, 0
        )
        phdrs = b"".join(
            struct.pack(order + "IIIIIIII", 1, offset, addr, addr, n, n, flags, 0x1000)
            for offset, addr, n, flags in segments
        )
    image = (head + phdrs).ljust(_RO_OFFSET, b"\0") + rodata
    return image.ljust(_RW_OFFSET, b"\0") + data


@pytest.mark.parametrize(("wide", "little"), [(True, True), (False, False)])
def test_pointer_format_build_info_of_go_before_1_18(
    tmp_path: Path, wide: bool, little: bool
) -> None:
    # A hand-made ELF with program headers only: Trivy finds build info through the section
    # headers (Go's debug/buildinfo), which this file has none of.
    with differences(
        "Trivy reads build info through section headers",
        only_cargohold=[
            ("golang", "example.com/old", "0.9.0"),
            ("golang", "golang.org/x/text", "0.3.5"),
            ("golang", "stdlib", "1.16.15"),
        ],
    ):
        inventory = _inventory(tmp_path, [[File("bin/old", _elf(wide, little), 0o755)]])
    assert {(p.name, p.version, p.purl) for p in inventory.packages} == {
        ("example.com/old", "v0.9.0", "pkg:golang/example.com/old@v0.9.0"),
        ("golang.org/x/text", "v0.3.5", "pkg:golang/golang.org/x/text@v0.3.5"),
        ("stdlib", "1.16.15", "pkg:golang/stdlib@1.16.15"),
    }


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("go1.19.8", "1.19.8"),
        ("go1.20", "1.20.0"),
        ("go1.21rc2", "1.21.0-rc.2"),
        ("go1.18beta1", "1.18.0-beta.1"),
        ("go1.20.5 X:boringcrypto", "1.20.5"),
        ("devel go1.22-abcdef Tue", None),
    ],
)
def test_toolchain_versions_in_the_go_vulnerability_database_form(
    tag: str, version: str | None
) -> None:
    assert stdlib_version(tag) == version


def test_a_versions_list_matches_the_module_version_go_embedded(
    go_builds: GoBuilds, tmp_path: Path
) -> None:
    # The Go vulnerability database lists versions without the "v" Go writes: "0.4.1"
    # stands for the v0.4.1 the binary was built with (a record with only a `versions`
    # list, made here in the shape of the Go database's).
    inventory = _inventory(tmp_path, [[File("opt/tools/bin/tool", go_builds.tool, 0o755)]])
    record = parse_record(
        {
            "id": "GO-2099-0001",
            "modified": "2024-01-01T00:00:00Z",
            "aliases": ["CVE-2099-0001"],
            "affected": [
                {
                    "package": {"ecosystem": "Go", "name": "example.com/lib"},
                    "versions": ["0.4.0", "0.4.1"],
                }
            ],
        }
    )
    findings = match_inventory(inventory, MemorySource([record]))
    assert [(f.package.name, f.installed_version, f.id) for f in findings] == [
        ("example.com/lib", "v0.4.1", "CVE-2099-0001")
    ]
    unlisted = replace(record, affected=(replace(record.affected[0], versions=("0.4.2",)),))
    assert match_inventory(inventory, MemorySource([unlisted])) == []
