"""`cargohold analyze`: layer sizes, the instructions that made them, bytes wasted by files later
layers overwrite or delete (stated exactly), what the final image carries, its user, the
score, `--compare`, and the three output formats, on images these tests build."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cargohold.analysis.analyze import analyze_image
from cargohold.analysis.model import ImageAnalysis
from cargohold.scan.layout import open_images
from cargohold.scan.reference import parse_reference
from tests.scan.imagebuild import (
    Dir,
    File,
    ImageSpec,
    compress,
    docker_archive,
    layer_tar,
    oci_layout,
    opaque,
    tar_directory,
    whiteout,
)
from tests.support.server import CARGOHOLD

PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
EVIL = "srv/<script>alert(1)&.txt"

BASE = [
    File("etc/passwd", PASSWD),
    File("usr/bin/gcc", b"g" * 1000, 0o755),
    File("usr/share/doc/pkg/README", b"d" * 300),
    File("usr/include/foo.h", b"h" * 200),
    File("big/blob.bin", b"b" * 5000),
    File("data/keep.txt", b"k" * 100),
    File("tree/a.txt", b"a" * 400),
    File("tree/sub/b.txt", b"b" * 600),
    File("opaquedir/x", b"x" * 700),
    File("opaquedir/y", b"y" * 800),
    File("lib/mod/a.so", b"s" * 900),
    File(EVIL, b"e" * 5),
]
INSTALL = [
    File("big/blob.bin", b"B" * 2000),  # overwrites 5000 bytes of layer 0
    whiteout("tree"),  # deletes 400 + 600 bytes of layer 0
    File("var/cache/apt/archives/tool.deb", b"p" * 3000),
    File("var/lib/apt/lists/deb_Packages", b"l" * 250),
]
CLEANUP = [
    opaque("opaquedir"),  # hides 700 + 800 bytes of layer 0
    File("opaquedir/z", b"z" * 50),
    whiteout("var/cache/apt/archives/tool.deb"),  # deletes 3000 bytes of layer 1
    File("lib/mod", b"m" * 10),  # a file over layer 0's directory: 900 bytes hidden
]
HISTORY = [
    {"created_by": "/bin/sh -c #(nop) ADD file:base in / "},
    {"created_by": "/bin/sh -c #(nop)  ENV X=1", "empty_layer": True},
    {"created_by": "/bin/sh -c apt-get install -y tool"},
    {"created_by": "/bin/sh -c #(nop)  USER app", "empty_layer": True},
    {"created_by": "/bin/sh -c rm -rf /var/cache/apt/archives/tool.deb"},
]
SPEC = ImageSpec(layers=[BASE, INSTALL, CLEANUP], history=HISTORY, user="app")
# Every regular file's bytes over all layers, and those no container sees.
CONTENT = len(PASSWD) + 10005 + 5250 + 60
WASTED = 5000 + 400 + 600 + 700 + 800 + 900 + 3000
FINAL = CONTENT - WASTED


def _analysis(source: str) -> ImageAnalysis:
    with open_images(parse_reference(source)) as images:
        (image,) = images
        return analyze_image(image)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CARGOHOLD_REGISTRY"}
    return subprocess.run(
        [CARGOHOLD, "analyze", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment | {"COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return oci_layout(tmp_path_factory.mktemp("analyze") / "layout", SPEC)


def test_wasted_bytes_are_every_hidden_copy_exactly(layout: Path) -> None:
    analysis = _analysis(f"oci:{layout}")
    hidden = {(w.path, w.bytes, w.layer, w.hidden_by, w.how) for w in analysis.wasted}
    assert hidden == {
        ("/big/blob.bin", 5000, 0, 1, "overwritten"),
        ("/tree/a.txt", 400, 0, 1, "deleted"),
        ("/tree/sub/b.txt", 600, 0, 1, "deleted"),
        ("/opaquedir/x", 700, 0, 2, "opaque"),
        ("/opaquedir/y", 800, 0, 2, "opaque"),
        ("/lib/mod/a.so", 900, 0, 2, "overwritten"),
        ("/var/cache/apt/archives/tool.deb", 3000, 1, 2, "deleted"),
    }
    assert analysis.wasted_bytes == WASTED and analysis.wasted_files == 7
    assert [layer.wasted_bytes for layer in analysis.layers] == [8400, 3000, 0]
    assert analysis.content_bytes == CONTENT
    assert analysis.final_bytes == FINAL
    assert analysis.efficiency == round(FINAL / CONTENT, 4)


def test_layers_have_their_sizes_and_instructions(layout: Path) -> None:
    analysis = _analysis(f"oci:{layout}")
    tars = [layer_tar(entries) for entries in SPEC.layers]
    assert [layer.uncompressed_bytes for layer in analysis.layers] == [len(t) for t in tars]
    compressed = [len(compress(t, "gzip")) for t in tars]
    assert [layer.compressed_bytes for layer in analysis.layers] == compressed
    assert analysis.compressed_bytes == sum(compressed)
    assert [layer.files for layer in analysis.layers] == [12, 3, 2]
    assert [layer.deletions for layer in analysis.layers] == [0, 1, 2]
    # The ENV and USER steps made no layer: the three others name the three layers.
    assert [layer.created_by for layer in analysis.layers] == [
        "/bin/sh -c #(nop) ADD file:base in /",
        "/bin/sh -c apt-get install -y tool",
        "/bin/sh -c rm -rf /var/cache/apt/archives/tool.deb",
    ]
    assert [step.layer for step in analysis.history] == [0, None, 1, None, 2]


def test_the_final_image_its_leftovers_user_and_largest_files(layout: Path) -> None:
    analysis = _analysis(f"oci:{layout}")
    categories = {
        c.name: (c.files, c.bytes, [e.path for e in c.examples]) for c in analysis.categories
    }
    assert categories == {
        "build-tools": (1, 1000, ["/usr/bin/gcc"]),
        # The .deb was deleted: only the apt lists are left.
        "package-caches": (1, 250, ["/var/lib/apt/lists/deb_Packages"]),
        "headers": (1, 200, ["/usr/include/foo.h"]),
        "docs": (1, 300, ["/usr/share/doc/pkg/README"]),
    }
    assert (analysis.run_as.user, analysis.run_as.root) == ("app", False)
    assert analysis.run_as.reason == "UID 1000 in /etc/passwd"
    assert [(f.path, f.bytes, f.layer) for f in analysis.largest_files[:3]] == [
        ("/big/blob.bin", 2000, 1),
        ("/usr/bin/gcc", 1000, 0),
        ("/usr/share/doc/pkg/README", 300, 0),
    ]
    directories = {d.path: d.bytes for d in analysis.directories}
    assert directories["/usr"] == 1500 and directories["/usr/share/doc"] == 300
    assert "/tree" not in directories and directories["/opaquedir"] == 50


@pytest.mark.parametrize(
    ("user", "root", "reason"),
    [
        (None, True, "no USER is set: runs as root"),
        ("0:0", True, "UID 0"),
        ("root", True, "root"),
        ("1001", False, "UID 1001"),
        ("ghost", False, "ghost is not in the image's /etc/passwd: a runtime refuses to start it"),
    ],
)
def test_the_user_it_runs_as(tmp_path: Path, user: str | None, root: bool, reason: str) -> None:
    spec = ImageSpec(layers=[[File("etc/passwd", PASSWD)]], user=user)
    analysis = _analysis(f"oci:{oci_layout(tmp_path / 'img', spec)}")
    assert (analysis.run_as.root, analysis.run_as.reason) == (root, reason)


def test_a_docker_archive_is_analyzed_the_same(layout: Path, tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "image.tar", [(SPEC, ["app:1"])])
    analysis = _analysis(f"docker-archive:{archive}")
    assert analysis.wasted_bytes == WASTED and analysis.final_bytes == FINAL
    # Uncompressed layers: stored as they are.
    assert [layer.compressed_bytes for layer in analysis.layers] == [
        len(layer_tar(entries)) for entries in SPEC.layers
    ]
    assert analysis.layers[1].created_by == "/bin/sh -c apt-get install -y tool"


def test_history_that_does_not_match_the_layers_names_none(tmp_path: Path) -> None:
    spec = ImageSpec(layers=[[File("a", b"1")], [File("b", b"2")]], history=HISTORY[:1])
    analysis = _analysis(f"oci:{oci_layout(tmp_path / 'img', spec)}")
    assert [layer.created_by for layer in analysis.layers] == [None, None]
    assert [step.layer for step in analysis.history] == [None]


def test_json_and_table_from_the_cli(layout: Path, tmp_path: Path) -> None:
    archive = tar_directory(layout, tmp_path / "image.tar")
    done = _cli(f"oci-archive:{archive}", "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    (platform,) = document["platforms"]
    assert document["image"] == f"oci-archive:{archive}"
    assert platform["wastedBytes"] == WASTED and platform["platform"] == "linux/amd64"
    assert platform["runAs"] == {"user": "app", "root": False, "reason": "UID 1000 in /etc/passwd"}
    table = _cli(str(archive))
    assert table.returncode == 0, table.stderr
    assert f"Efficiency: {FINAL / CONTENT:.1%}" in table.stdout
    assert "/var/cache/apt/archives/tool.deb" in table.stdout
    assert "apt-get install -y tool" in table.stdout


def test_the_html_report_is_one_file_with_every_name_escaped(layout: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    done = _cli(f"oci:{layout}", "--format", "html", "--output", str(report))
    assert done.returncode == 0, done.stderr
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert "src=" not in page and "href=" not in page  # nothing fetched
    assert "/big/blob.bin" in page and "Efficiency" in page


def test_the_evil_name_is_shown_escaped(tmp_path: Path) -> None:
    spec = ImageSpec(layers=[[File(EVIL, b"e" * 4096)]])
    report = tmp_path / "report.html"
    done = _cli(f"oci:{oci_layout(tmp_path / 'img', spec)}", "-f", "html", "-o", str(report))
    assert done.returncode == 0, done.stderr
    page = report.read_text()
    assert "/srv/&lt;script&gt;alert(1)&amp;.txt" in page
    assert "<script" not in page.lower()


def _compare(old: Path, new: Path) -> dict[str, Any]:
    done = _cli("--compare", f"oci:{old}", f"oci:{new}", "--format", "json")
    assert done.returncode == 0, done.stderr
    (comparison,) = json.loads(done.stdout)["comparisons"]
    return comparison  # type: ignore[no-any-return]


def test_compare_per_layer_and_per_directory(layout: Path, tmp_path: Path) -> None:
    slimmer = ImageSpec(
        layers=[BASE, [File("big/blob.bin", b"B" * 2000), whiteout("usr/share/doc")]],
        history=HISTORY[:3],
        user="app",
    )
    new = oci_layout(tmp_path / "new", slimmer)
    comparison = _compare(layout, new)
    assert [(c["index"], c["change"]) for c in comparison["layers"]] == [
        (0, "same"),
        (1, "changed"),
        (2, "removed"),
    ]
    directories = {d["path"]: (d["change"], d["delta"]) for d in comparison["directories"]}
    assert directories["/usr/share/doc"] == ("removed", -300)
    assert directories["/usr/share"] == ("shrunk", -300)  # still there, empty
    assert directories["/usr"] == ("shrunk", -300)
    assert directories["/tree"] == ("added", 1000)  # the new image keeps what the old deleted
    assert directories["/var/lib/apt"] == ("removed", -250)
    assert "/big" not in directories  # 2000 bytes in both
    new_bytes = FINAL - 300 - 250 - 50 - 10 + 1000 + 1500 + 900
    assert (comparison["oldBytes"], comparison["newBytes"]) == (FINAL, new_bytes)
    assert comparison["delta"] == new_bytes - FINAL


def test_compare_as_a_table(layout: Path) -> None:
    done = _cli("--compare", f"oci:{layout}", f"oci:{layout}")
    assert done.returncode == 0, done.stderr
    assert "same" in done.stdout and "Directories" not in done.stdout


def test_min_efficiency_gates(layout: Path) -> None:
    assert _cli(f"oci:{layout}", "--min-efficiency", "0.1").returncode == 0
    failed = _cli(f"oci:{layout}", "--min-efficiency", "0.9", "-f", "json")
    assert failed.returncode == 3
    assert f"efficiency {FINAL / CONTENT:.1%} of linux/amd64 is below 90.0%" in failed.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nowhere/image.tar"], "error: /nowhere/image.tar: no such file or directory\n"),
        (["oci:/nowhere"], "error: oci:/nowhere: /nowhere does not exist\n"),
    ],
)
def test_bad_images_are_one_line_errors(args: list[str], message: str) -> None:
    done = _cli(*args)
    assert (done.returncode, done.stderr, done.stdout) == (1, message, "")


def test_a_damaged_layer_is_one_line(tmp_path: Path) -> None:
    root = oci_layout(tmp_path / "img", ImageSpec(layers=[[File("a", b"x" * 100)]]))
    manifest = json.loads((root / "index.json").read_text())["manifests"][0]["digest"]
    document = json.loads((root / "blobs" / "sha256" / manifest.split(":")[1]).read_bytes())
    layer = root / "blobs" / "sha256" / document["layers"][0]["digest"].split(":")[1]
    layer.write_bytes(b"not a tar stream at all" * 40)
    done = _cli(f"oci:{root}")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: layer 0 (sha256:") and done.stderr.count("\n") == 1


def test_neither_or_both_is_a_usage_error(layout: Path) -> None:
    assert _cli().returncode == 2
    both = _cli(f"oci:{layout}", "--compare", f"oci:{layout}", f"oci:{layout}")
    assert both.returncode == 2 and "give IMAGE, or --compare OLD NEW" in both.stderr


def test_directories_of_a_tree_only_image(tmp_path: Path) -> None:
    """Directory entries alone: no files, nothing wasted, a perfect score."""
    spec = ImageSpec(layers=[[Dir("empty")], [Dir("empty")]])
    analysis = _analysis(f"oci:{oci_layout(tmp_path / 'img', spec)}")
    assert (analysis.final_bytes, analysis.wasted_bytes, analysis.efficiency) == (0, 0, 1.0)
