"""Images pushed through one node come back whole through the other node and through nginx:
with skopeo (signed in with `skopeo login`, a multi-platform index) and with plain HTTP (the
token flow, as docker signs in)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.multinode.images import pull, push, random_image
from tests.multinode.stack import PROJECT, ProductionStack
from tests.support.images import BuiltImages, compare_layouts
from tests.support.skopeo import Skopeo
from tests.support.tokenflow import TokenFlow

pytestmark = pytest.mark.peer


def _client(base_url: str, flow: TokenFlow) -> httpx.Client:
    return httpx.Client(base_url=base_url, auth=flow, timeout=60)


@pytest.mark.parametrize("pushed_to", ["node-a", "node-b"])
def test_an_image_pushed_through_one_node_pulls_through_the_other_and_nginx(
    stack: ProductionStack, pushed_to: str
) -> None:
    flow = TokenFlow(stack.developer)
    repository = f"{PROJECT}/http-{pushed_to}"
    image = random_image(pushed_to)
    with _client(stack.endpoints[pushed_to], flow) as client:
        push(client, repository, "v1", image)
    for name, url in stack.endpoints.items():
        if name == pushed_to:
            continue
        with _client(url, flow) as client:
            assert pull(client, repository, "v1") == image
            assert pull(client, repository, image.digest) == image
            tags = client.get(f"/v2/{repository}/tags/list")
            assert tags.status_code == 200 and tags.json()["tags"] == ["v1"]


def test_skopeo_copies_an_index_in_through_node_a_and_out_through_node_b_and_nginx(
    stack: ProductionStack, skopeo: Skopeo, umoci_images: BuiltImages, tmp_path: Path
) -> None:
    repository = f"{PROJECT}/skopeo"
    node_a, node_b = stack.nodes
    skopeo.copy(umoci_images.ref("multi"), f"docker://{node_a.host}/{repository}:1", "--all")
    for i, host in enumerate((node_b.host, stack.nginx.host)):
        out = tmp_path / f"out-{i}"
        skopeo.copy(f"docker://{host}/{repository}:1", f"oci:{out}:back", "--all")
        assert compare_layouts(umoci_images.layout, out, "multi", "back") == []
    # And the other way round: pushed through nginx (whichever node takes each request),
    # pulled from node A.
    skopeo.copy(umoci_images.ref("amd64"), f"docker://{stack.nginx.host}/{repository}:amd64")
    out = tmp_path / "out-amd64"
    skopeo.copy(f"docker://{node_a.host}/{repository}:amd64", f"oci:{out}:back")
    assert compare_layouts(umoci_images.layout, out, "amd64", "back") == []
