"""skopeo against a cargohold whose blobs live in S3 (SeaweedFS): an image and a two-platform
index copied in and back out byte for byte, the digests skopeo reports checked, and every
blob found in the bucket at its digest's key with no staged bytes left behind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargohold.policy.permissions import Role
from tests.clients.conftest import PASSWORD, TEAM
from tests.support.accounts import Accounts
from tests.support.images import BuiltImages, blob_bytes, compare_layouts, sha256
from tests.support.seaweedfs import (
    SeaweedServer,
    keys_under,
    multipart_keys,
    object_bytes,
    s3_server,
)
from tests.support.server import CargoholdServer
from tests.support.skopeo import SKOPEO, Skopeo

pytestmark = [pytest.mark.peer, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"skopeo-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def s3_registry(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedServer, prefix: str
) -> Iterator[CargoholdServer]:
    started = s3_server(tmp_path_factory.mktemp("skopeo-s3"), seaweedfs, prefix)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def s3_skopeo(tmp_path_factory: pytest.TempPathFactory, s3_registry: CargoholdServer) -> Skopeo:
    """skopeo signed in (`skopeo login`) as a maintainer of the project `test`."""
    if not Path(SKOPEO).exists():
        pytest.skip(f"{SKOPEO} is missing: apt-get install skopeo")
    accounts = Accounts(s3_registry)
    try:
        accounts.project(TEAM)
        developer = accounts.user("developer", PASSWORD)
        accounts.member(TEAM, developer.name, Role.MAINTAINER)
    finally:
        accounts.close()
    tool = Skopeo(tmp_path_factory.mktemp("skopeo-s3-home")).setup()
    tool.login(s3_registry.host, developer)
    return tool


def test_skopeo_copies_an_image_in_and_out_of_a_registry_on_s3(
    s3_skopeo: Skopeo,
    s3_registry: CargoholdServer,
    seaweedfs: SeaweedServer,
    prefix: str,
    test_images: BuiltImages,
    tmp_path: Path,
) -> None:
    reference = f"docker://{s3_registry.host}/{TEAM}/on-s3"
    digestfile = tmp_path / "digest"
    s3_skopeo.copy(test_images.ref("amd64"), f"{reference}:v1", "--digestfile", str(digestfile))
    pushed = test_images.digest("amd64")
    assert digestfile.read_text().strip() == pushed
    assert sha256(s3_skopeo.inspect_raw(f"{reference}@{pushed}")) == pushed

    store = seaweedfs.store(prefix)
    manifest = test_images.manifest("amd64")
    for descriptor in [manifest["config"], *manifest["layers"]]:
        digest = descriptor["digest"]
        assert object_bytes(store, digest) == blob_bytes(test_images.layout, digest)
    assert keys_under(store, store.layout.uploads) == []  # every session's staging went
    assert multipart_keys(store) == []

    out = tmp_path / "pulled"
    s3_skopeo.copy(f"{reference}:v1", f"oci:{out}:back")
    assert compare_layouts(test_images.layout, out, "amd64", "back") == []


def test_skopeo_copies_an_index_in_and_out_of_a_registry_on_s3(
    s3_skopeo: Skopeo, s3_registry: CargoholdServer, test_images: BuiltImages, tmp_path: Path
) -> None:
    reference = f"docker://{s3_registry.host}/{TEAM}/multi-on-s3:1"
    digestfile = tmp_path / "digest"
    s3_skopeo.copy(test_images.ref("multi"), reference, "--all", "--digestfile", str(digestfile))
    assert digestfile.read_text().strip() == test_images.digest("multi")
    out = tmp_path / "pulled"
    s3_skopeo.copy(reference, f"oci:{out}:back", "--all")
    assert compare_layouts(test_images.layout, out, "multi", "back") == []
