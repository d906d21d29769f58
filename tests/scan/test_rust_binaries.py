"""Rust binaries built with cargo-auditable: the crates in their `.dep-v0` section.

`cargo auditable` itself cannot be installed here (crates.io is not reachable), so the
binaries are built by the real rustc and given the section the two ways it gets into real
binaries: linked in as read-only data, as cargo-auditable does (a `#[link_section]`
static, inside a loadable segment), and appended by `objcopy --add-section`, after the
segments. The section holds what cargo-auditable writes: the crate graph as compact JSON
(serde_json's field order), zlib-compressed. The advisory is RUSTSEC-2021-0003 (smallvec),
trimmed to its affected range.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from cargohold.scan.matching import match_inventory
from cargohold.scan.rust_binary import AuditDataFinder
from tests.scan.content import debian_base
from tests.scan.imagebuild import File, ImageSpec, image_inventory
from tests.scan.osv_data import MemorySource, advisory

RUSTC, OBJCOPY, OBJDUMP = shutil.which("rustc"), shutil.which("objcopy"), shutil.which("objdump")
pytestmark = pytest.mark.skipif(
    RUSTC is None or OBJCOPY is None or OBJDUMP is None,
    reason="rustc or binutils is missing: apt-get install rustc binutils",
)

# The crate graph of an app depending on smallvec and a git crate, with a build-time
# dependency (cc, for a build script): what `cargo auditable build` embeds.
AUDIT_DATA = {
    "packages": [
        {"name": "app", "version": "0.1.0", "source": "local", "dependencies": [2, 3, 1],
         "root": True},
        {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
        {"name": "smallvec", "version": "1.6.0", "source": "crates.io"},
        {"name": "tiny-http-fork", "version": "0.12.0", "source": "git"},
    ]
}  # fmt: skip
EXPECTED = [
    ("smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0"),
    ("tiny-http-fork", "0.12.0", "pkg:cargo/tiny-http-fork@0.12.0"),
]
SMALLVEC_CVE = advisory("RUSTSEC-2021-0003", "crates.io", ["smallvec"], "1.0.0", "1.6.1")
MAIN = 'fn main() {\n    println!("hello");\n}\n'
# cargo-auditable links an object file holding the section and keeps it with
# `--undefined=AUDITABLE_VERSION_INFO`; a `#[link_section]` static does the same in rustc.
LINKED = """#[used]
#[no_mangle]
#[link_section = ".dep-v0"]
static AUDITABLE_VERSION_INFO: [u8; {size}] = *include_bytes!("dep-v0.z");

fn main() {{
    println!("hello");
}}
"""


def _compressed(level: int = 9) -> bytes:
    return zlib.compress(json.dumps(AUDIT_DATA, separators=(",", ":")).encode(), level)


def _run(args: list[str], cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@dataclass(frozen=True)
class RustBuilds:
    linked: bytes  # the section linked in as read-only data, as cargo-auditable does
    appended: bytes  # the section added by objcopy after the segments
    plain: bytes  # a Rust binary built without cargo-auditable
    truncated: bytes  # an appended section whose zlib stream is cut short


def _section_flags(binary: Path) -> str:
    assert OBJDUMP is not None
    listing = subprocess.run(
        [OBJDUMP, "-h", str(binary)], capture_output=True, text=True, timeout=60
    ).stdout
    lines = listing.splitlines()
    index = next(i for i, line in enumerate(lines) if ".dep-v0" in line)
    return lines[index + 1]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> RustBuilds:
    assert RUSTC is not None and OBJCOPY is not None
    work = tmp_path_factory.mktemp("rust")
    data = _compressed()
    (work / "dep-v0.z").write_bytes(data)
    (work / "linked.rs").write_text(LINKED.format(size=len(data)))
    (work / "plain.rs").write_text(MAIN)
    compile = [RUSTC, "--edition", "2021", "-C", "opt-level=1"]
    keep = ["-C", "link-arg=-Wl,--undefined=AUDITABLE_VERSION_INFO"]
    _run([*compile, *keep, "linked.rs", "-o", "linked"], work)
    _run([*compile, "plain.rs", "-o", "plain"], work)
    # objcopy's default for an added section: no ALLOC flag, placed after the segments.
    (work / "dep-v0-6.z").write_bytes(_compressed(6))
    _run([OBJCOPY, "--add-section", ".dep-v0=dep-v0-6.z", "plain", "appended"], work)
    (work / "cut.z").write_bytes(data[: len(data) // 2])
    _run([OBJCOPY, "--add-section", ".dep-v0=cut.z", "plain", "truncated"], work)
    # The two placements really differ: allocated (in a segment) or not.
    assert "ALLOC" in _section_flags(work / "linked")
    assert "ALLOC" not in _section_flags(work / "appended")
    return RustBuilds(
        *((work / name).read_bytes() for name in ("linked", "appended", "plain", "truncated"))
    )


def _crates(tmp_path: Path, binary: bytes, mode: int = 0o755) -> list[tuple[str, str, str]]:
    layer = [File("usr/local/bin/app", binary, mode=mode)]
    inventory = image_inventory(tmp_path, ImageSpec([debian_base(), layer]))
    assert inventory.problems == []
    return [(p.name, p.version, p.purl) for p in inventory.packages if p.type == "cargo"]


@pytest.mark.parametrize("placement", ["linked", "appended"])
def test_auditable_binaries_are_inventoried_and_matched(
    builds: RustBuilds, tmp_path: Path, placement: str
) -> None:
    binary = getattr(builds, placement)
    layer = [File("usr/local/bin/app", binary, mode=0o755)]
    inventory = image_inventory(tmp_path, ImageSpec([debian_base(), layer]))
    crates = [p for p in inventory.packages if p.type == "cargo"]
    # Not the app's own crate (source "local"), nor cc, which only ran at build time.
    assert [(p.name, p.version, p.purl) for p in crates] == EXPECTED
    assert {(p.location, p.layer.index) for p in crates} == {("usr/local/bin/app", 1)}
    findings = match_inventory(inventory, MemorySource([SMALLVEC_CVE]))
    assert [(f.package.name, f.id, f.fixed_version) for f in findings] == [
        ("smallvec", "RUSTSEC-2021-0003", "1.6.1")
    ]


def test_a_rust_binary_without_audit_data_and_a_non_executable_copy_report_nothing(
    builds: RustBuilds, tmp_path: Path
) -> None:
    assert _crates(tmp_path / "plain", builds.plain) == []
    # Like a Go binary, a file no one can execute is not looked at.
    assert _crates(tmp_path / "data", builds.linked, mode=0o644) == []


def test_cut_short_audit_data_is_an_unreadable_file(builds: RustBuilds, tmp_path: Path) -> None:
    layer = [File("usr/local/bin/app", builds.truncated, mode=0o755)]
    inventory = image_inventory(tmp_path, ImageSpec([debian_base(), layer]))
    assert [p for p in inventory.packages if p.type == "cargo"] == []
    (problem,) = inventory.problems
    assert problem.code == "unreadable-file" and problem.location == "usr/local/bin/app"
    # The stream ends inside the section, or runs on into bytes that are not deflate data.
    assert "cargo-auditable data" in problem.message


@pytest.mark.parametrize("chunk", [7, 1000, 1 << 20])
def test_the_section_is_found_whatever_the_chunks_it_arrives_in(
    builds: RustBuilds, chunk: int
) -> None:
    # A tar stream hands the file over in pieces: a zlib header or the probe after it may
    # straddle two of them.
    for binary in (builds.linked, builds.appended):
        finder = AuditDataFinder()
        for start in range(0, len(binary), chunk):
            finder.feed(binary[start : start + chunk])
        assert json.loads(finder.finish() or b"null") == AUDIT_DATA
