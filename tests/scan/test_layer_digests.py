"""Layer blobs are hashed while they stream; content that does not match its digest is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cargohold.scan import LayerError, inventory_image
from tests.scan.content import dist_info, npm_package
from tests.scan.imagebuild import ImageSpec, docker_archive, oci_layout, tar_directory

SITE = "usr/lib/python3/site-packages"
MARKER = b"The attrs package"  # in the METADATA summary of the second layer


def _spec(compression: str) -> ImageSpec:
    return ImageSpec(
        layers=[[npm_package("srv", "ms", "2.1.3")], dist_info(SITE, "attrs", "23.1.0")],
        compression=[compression, compression],
    )


def _layer_blob(layout: Path, position: int) -> tuple[Path, str]:
    index = json.loads((layout / "index.json").read_text())
    manifest = index["manifests"][0]["digest"].split(":")[1]
    document = json.loads((layout / "blobs" / "sha256" / manifest).read_text())
    digest = document["layers"][position]["digest"]
    return layout / "blobs" / "sha256" / digest.split(":")[1], digest


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_a_layer_changed_in_a_file_s_content_is_refused(tmp_path: Path) -> None:
    # Uncompressed, the changed byte still makes a valid tar: only the digest can tell.
    layout = oci_layout(tmp_path / "img", _spec("none"))
    blob, digest = _layer_blob(layout, 1)
    data = blob.read_bytes()
    blob.write_bytes(_flip(data, data.index(MARKER)))
    with pytest.raises(LayerError) as error:
        inventory_image(f"oci:{layout}")
    message = str(error.value)
    assert message.startswith(f"layer 1 ({digest}) does not match its digest")
    assert "\n" not in message


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_damaged_compressed_layer_names_the_digest_mismatch(
    tmp_path: Path, compression: str
) -> None:
    layout = oci_layout(tmp_path / "img", _spec(compression))
    blob, digest = _layer_blob(layout, 0)
    data = blob.read_bytes()
    blob.write_bytes(_flip(data, len(data) // 2))
    with pytest.raises(LayerError, match=rf"^layer 0 \({digest}\) does not match its digest"):
        inventory_image(f"oci:{layout}")


def test_an_intact_layout_and_its_archive_pass_the_check(tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "img", _spec("gzip"))
    archive = tar_directory(layout, tmp_path / "img.tar")
    for reference in (f"oci:{layout}", f"oci-archive:{archive}"):
        (inventory,) = inventory_image(reference)
        assert {p.name for p in inventory.packages} == {"ms", "attrs"}


def test_a_damaged_layer_inside_an_oci_archive_is_refused(tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "img", _spec("none"))
    blob, digest = _layer_blob(layout, 1)
    blob.write_bytes(_flip(blob.read_bytes(), blob.read_bytes().index(MARKER)))
    archive = tar_directory(layout, tmp_path / "img.tar")
    with pytest.raises(LayerError, match=rf"^layer 1 \({digest}\) does not match its digest"):
        inventory_image(f"oci-archive:{archive}")


def test_docker_save_layers_are_checked_against_their_diff_ids(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "save.tar", [(_spec("none"), ["web:1"])])
    (inventory,) = inventory_image(f"docker-archive:{archive}")
    diff_id = inventory.layers[1].digest
    data = archive.read_bytes()  # docker save stores layers uncompressed: the marker is there
    archive.write_bytes(_flip(data, data.index(MARKER)))
    with pytest.raises(LayerError, match=rf"^layer 1 \({diff_id}\) does not match its digest"):
        inventory_image(f"docker-archive:{archive}")
