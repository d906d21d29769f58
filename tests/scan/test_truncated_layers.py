"""Layers whose tar stream ends early: read whole with a warning, or refused when data is lost.

umoci 0.4.7's `insert` never closes its tar writer: the layer it writes lacks the two
end-of-archive blocks and the padding after its last member's data. Docker and containerd
(Go's tar reader) and Trivy read every file of such a layer; so does the scanner, and it
says so on the layer. A stream that ends inside a member's data or header has lost that
member: the scan fails, naming the layer.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cargohold.cli.main import app
from cargohold.scan import LayerError, inventory_image
from cargohold.scan.model import TRUNCATED_LAYER
from cargohold.scan.storedform import inventory_from_json, inventory_to_json
from tests.scan.content import DATA, DEBIAN_12_OS_RELEASE, UMOCI, umoci_insert_image
from tests.scan.imagebuild import File, ImageSpec, OCILayout, layer_tar

STATUS = DATA / "dpkg" / "status-base"
STATUS_PACKAGES = 12  # the packages of status-base that dpkg lists as installed


def _layer_tar(layout: Path) -> bytes:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / digest).read_bytes())
    (layer,) = manifest["layers"]
    return gzip.decompress((layout / "blobs/sha256" / layer["digest"].split(":")[1]).read_bytes())


@pytest.fixture(scope="module")
def umoci_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if UMOCI is None:
        pytest.skip("umoci is missing: apt-get install umoci")
    return umoci_insert_image(tmp_path_factory.mktemp("umoci"))


def test_umoci_insert_really_leaves_the_tar_stream_unclosed(umoci_image: Path) -> None:
    tar = _layer_tar(umoci_image)
    assert len(tar) % tarfile.BLOCKSIZE != 0  # the last member's padding is missing
    assert not tar.endswith(b"\0" * 2 * tarfile.BLOCKSIZE)  # and the end-of-archive blocks
    with (
        pytest.raises(tarfile.ReadError, match="unexpected end of data"),
        tarfile.open(fileobj=io.BytesIO(tar), mode="r|") as stream,
    ):
        for _ in stream:
            pass


def test_every_member_is_read_and_the_layer_carries_a_warning(umoci_image: Path) -> None:
    (inventory,) = inventory_image(f"oci:{umoci_image}:latest")
    assert inventory.os is not None and inventory.os.id == "debian"
    assert len([p for p in inventory.packages if p.type == "deb"]) == STATUS_PACKAGES
    (problem,) = inventory.problems
    assert problem.code == TRUNCATED_LAYER and not problem.blocking
    assert problem.layer == inventory.layers[0]
    assert "end-of-archive blocks and the padding after its last member" in problem.message
    # Stored by the registry and read back by `cargohold scan` as it is.
    assert inventory_from_json(json.loads(json.dumps(inventory_to_json(inventory)))) == inventory


def test_cargohold_scan_shows_the_warning(
    umoci_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    image = f"oci:{umoci_image}:latest"
    table = runner.invoke(app, ["scan", image, "--db-dir", str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "12 packages" in table.stdout
    assert "WARNING: truncated-layer: layer 0's tar stream ends without" in table.stdout
    assert "(layer 0, sha256:" in table.stdout
    report = runner.invoke(app, ["scan", image, "--db-dir", str(tmp_path), "-f", "json"])
    assert report.exit_code == 0, report.output
    (result,) = json.loads(report.stdout)["results"]
    assert result["packageCount"] == STATUS_PACKAGES
    (problem,) = result["problems"]
    assert (problem["code"], problem["blocking"], problem["layer"]["index"]) == (
        TRUNCATED_LAYER,
        False,
        0,
    )


def _layout_with_layer(root: Path, tar: bytes) -> str:
    layout = OCILayout(root)
    spec = ImageSpec(layers=[])
    layer = layout.blob(gzip.compress(tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": layout.blob(spec.config([]), "application/vnd.oci.image.config.v1+json"),
        "layers": [layer],
    }
    descriptor = layout.blob(
        json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json"
    )
    layout.tag(descriptor, "latest")
    return f"oci:{root}:latest"


def _status_layer() -> tuple[bytes, int]:
    """A whole layer (os-release, then the dpkg status) and where the status's data ends."""
    tar = layer_tar(
        [
            File("etc/os-release", DEBIAN_12_OS_RELEASE),
            File("var/lib/dpkg/status", STATUS.read_bytes()),
        ]
    )
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        status = archive.getmember("var/lib/dpkg/status")
    return tar, status.offset_data + status.size


def test_a_stream_without_only_its_end_blocks_is_read_with_a_warning(tmp_path: Path) -> None:
    # Go's tar writer flushed but never closed: the padding is there, the end blocks are not.
    tar, data_end = _status_layer()
    padded = data_end + -data_end % tarfile.BLOCKSIZE
    (inventory,) = inventory_image(_layout_with_layer(tmp_path / "img", tar[:padded]))
    assert len(inventory.packages) == STATUS_PACKAGES
    (problem,) = inventory.problems
    assert problem.message == (
        "layer 0's tar stream ends without the end-of-archive blocks; every member was read whole"
    )


def test_a_stream_cut_inside_a_member_s_data_fails(tmp_path: Path) -> None:
    tar, data_end = _status_layer()
    expected = r"layer 0 \(sha256:[0-9a-f]+\) is cut short: the data of var/lib/dpkg/status ends"
    with pytest.raises(LayerError, match=expected):
        inventory_image(_layout_with_layer(tmp_path / "img", tar[: data_end - 100]))


def test_a_stream_cut_inside_the_next_member_s_header_fails(tmp_path: Path) -> None:
    tar, data_end = _status_layer()
    extra = layer_tar([File("etc/hostname", b"box\n")])
    padded = data_end + -data_end % tarfile.BLOCKSIZE
    cut = tar[:padded] + extra[: tarfile.BLOCKSIZE // 2]  # half of the next header
    with pytest.raises(LayerError, match="ends inside the header of the member after"):
        inventory_image(_layout_with_layer(tmp_path / "img", cut))
