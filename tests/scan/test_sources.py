"""Images come from OCI layouts, OCI archives and `docker save` archives, per platform."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from cargohold.scan import (
    BadReferenceError,
    ImageSourceError,
    LayerError,
    Platform,
    ScanError,
    inventory_image,
)
from tests.scan.content import alpine_base, debian_base, npm_package
from tests.scan.imagebuild import (
    File,
    ImageSpec,
    OCILayout,
    docker_archive,
    oci_layout,
    tar_directory,
)


def _arm_status() -> bytes:
    return (
        b"Package: libc6\nStatus: install ok installed\nArchitecture: arm64\n"
        b"Source: glibc\nVersion: 2.36-9+deb12u4\n\n"
        b"Package: zlib1g\nStatus: install ok installed\nArchitecture: arm64\n"
        b"Source: zlib\nVersion: 1:1.2.13.dfsg-1\n"
    )


def _two_platform_layout(root: Path) -> Path:
    amd64 = ImageSpec(layers=[debian_base()], compression=["gzip"])
    arm64 = ImageSpec(
        architecture="arm64",
        variant="v8",
        layers=[[*debian_base()[:3], File("var/lib/dpkg/status", _arm_status())]],
        compression=["zstd"],
    )
    layout = OCILayout(root)
    layout.tag(layout.index([amd64, arm64]), "multi")
    return root


def test_every_platform_of_an_index_is_inventoried_separately(tmp_path: Path) -> None:
    inventories = inventory_image(f"oci:{_two_platform_layout(tmp_path / 'img')}:multi")
    by_platform = {str(i.platform): i for i in inventories}
    assert set(by_platform) == {"linux/amd64", "linux/arm64/v8"}
    arm = by_platform["linux/arm64/v8"]
    assert arm.platform == Platform("linux", "arm64", "v8")
    assert {(p.name, p.version, p.arch) for p in arm.packages} == {
        ("libc6", "2.36-9+deb12u4", "arm64"),
        ("zlib1g", "1:1.2.13.dfsg-1", "arm64"),
    }
    assert len(by_platform["linux/amd64"].packages) == 12
    assert {p.arch for p in by_platform["linux/amd64"].packages} <= {"amd64", "all"}
    assert arm.digest != by_platform["linux/amd64"].digest


def test_a_tag_picks_one_image_of_a_layout(tmp_path: Path) -> None:
    layout = OCILayout(tmp_path / "img")
    layout.tag(layout.image(ImageSpec(layers=[alpine_base()])), "alpine")
    layout.tag(layout.image(ImageSpec(layers=[debian_base()])), "debian")
    (alpine,) = inventory_image(f"oci:{tmp_path / 'img'}:alpine")
    assert alpine.os is not None and alpine.os.id == "alpine"
    with pytest.raises(BadReferenceError, match=r"holds 2 images.*tags: alpine, debian"):
        inventory_image(f"oci:{tmp_path / 'img'}")
    with pytest.raises(BadReferenceError, match="no image tagged 'ubuntu'"):
        inventory_image(f"oci:{tmp_path / 'img'}:ubuntu")


def test_oci_archive_gives_the_same_inventory_as_its_layout(tmp_path: Path) -> None:
    layout = _two_platform_layout(tmp_path / "img")
    archive = tar_directory(layout, tmp_path / "img.tar")
    assert inventory_image(f"oci-archive:{archive}") == inventory_image(f"oci:{layout}")


def test_docker_save_archive(tmp_path: Path) -> None:
    debian = ImageSpec(layers=[debian_base(), [npm_package("app", "express", "4.18.2")]])
    alpine = ImageSpec(layers=[alpine_base()], architecture="arm64")
    archive = docker_archive(
        tmp_path / "save.tar", [(debian, ["example/web:1.0"]), (alpine, ["alpine:3.19"])]
    )
    (web,) = inventory_image(f"docker-archive:{archive}:example/web:1.0")
    assert web.os is not None and web.os.distro == "debian-12"
    assert len([p for p in web.packages if p.type == "deb"]) == 12
    express = next(p for p in web.packages if p.name == "express")
    # docker save stores uncompressed layers; their digests are the config's diff_ids.
    assert express.layer.index == 1 and express.layer.digest.startswith("sha256:")
    assert express.layer.digest == web.layers[1].digest
    (alp,) = inventory_image(f"docker-archive:{archive}:docker.io/library/alpine:3.19")
    assert str(alp.platform) == "linux/arm64"
    with pytest.raises(BadReferenceError, match="holds 2 images"):
        inventory_image(f"docker-archive:{archive}")


@pytest.mark.parametrize(
    "reference",
    ["docker://alpine:3.19", "/tmp/image.tar", "oci:", "dir:/tmp/x"],
)
def test_unknown_reference_forms_are_refused(reference: str) -> None:
    with pytest.raises(BadReferenceError) as error:
        inventory_image(reference)
    assert "\n" not in str(error.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ImageSourceError, match="does not exist"):
        inventory_image(f"oci-archive:{tmp_path / 'nothing.tar'}")


def test_corrupt_archive(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.tar"
    path.write_bytes(b"this is not a tarball" * 100)
    with pytest.raises(ImageSourceError, match="not a readable tar archive"):
        inventory_image(f"docker-archive:{path}")


def test_truncated_archive(tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "img", ImageSpec(layers=[debian_base()]))
    data = tar_directory(layout, tmp_path / "img.tar").read_bytes()
    (tmp_path / "img.tar").write_bytes(data[: len(data) // 3])
    with pytest.raises(ScanError) as error:
        inventory_image(f"oci-archive:{tmp_path / 'img.tar'}")
    assert "\n" not in str(error.value)


def test_corrupt_layer_names_the_layer(tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "img", ImageSpec(layers=[alpine_base(), [File("x")]]))
    layer = _layer_blob(layout, 1)
    layer.write_bytes(gzip.compress(b"garbage that is not a tar stream" * 20)[:-10])
    with pytest.raises(LayerError, match=r"layer 1 \(sha256:[0-9a-f]{64}\)"):
        inventory_image(f"oci:{layout}")


def test_missing_layer_blob(tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "img", ImageSpec(layers=[alpine_base()]))
    _layer_blob(layout, 0).unlink()
    with pytest.raises(ImageSourceError, match=r"layer blob sha256:.* is missing"):
        inventory_image(f"oci:{layout}")


def test_layout_without_index(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageSourceError, match=r"index\.json is missing"):
        inventory_image(f"oci:{tmp_path / 'empty'}")


def _layer_blob(layout: Path, position: int) -> Path:
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest).read_text())
    return layout / "blobs" / "sha256" / manifest["layers"][position]["digest"].split(":")[1]
