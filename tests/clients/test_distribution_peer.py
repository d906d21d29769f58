"""Images move between Debian's docker-registry (distribution) and cargohold unchanged.

A mirror or migration from a reference registry relies on this: the same manifest digest
(what deployments pin) on both sides, and the same blobs. The mirror job is a CI robot:
skopeo signs in to cargohold with `--src-creds`/`--dest-creds` (and `--creds` to inspect),
while the peer takes anyone.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import CI, DistributionRegistry, People, Skopeo
from tests.support.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    BuiltImages,
    blob_bytes,
    compare_layouts,
    sha256,
)
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(300)]

ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def _digest_of(skopeo: Skopeo, reference: str, *options: str) -> str:
    """The manifest digest, the two ways a user would get it."""
    raw = skopeo.inspect_raw(reference, *options)
    formatted = skopeo.run(
        "inspect", "--tls-verify=false", "--format", "{{.Digest}}", *options, reference
    )
    assert formatted.stdout.decode().strip() == sha256(raw)
    return sha256(raw)


@pytest.fixture
def mirror(anonymous_skopeo: Skopeo) -> Skopeo:
    """skopeo with nothing in its auth file: each command is given the robot's credentials."""
    return anonymous_skopeo


@pytest.fixture
def ci_repo(repo: str) -> str:
    """A repository of the robot's project."""
    return f"{CI}/{repo}"


def _served(url: str, repo: str, reference: str, auth: httpx.Auth | None = None) -> httpx.Response:
    response = httpx.get(
        f"{url}/v2/{repo}/manifests/{reference}",
        headers={"Accept": ACCEPT_ALL},
        auth=auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("format_", ["oci", "v2s2"])
def test_image_from_distribution_to_cargohold_and_back(
    mirror: Skopeo,
    distribution: DistributionRegistry,
    sqlite_registry: CargoholdServer,
    people: People,
    test_images: BuiltImages,
    ci_repo: str,
    format_: str,
    tmp_path: Path,
) -> None:
    repo = ci_repo
    creds = people.ci.creds
    peer = f"docker://{distribution.host}/{repo}:v1"
    ours = f"docker://{sqlite_registry.host}/{repo}:v1"
    back = f"docker://{distribution.host}/{repo}/back:v1"

    mirror.copy(test_images.ref("amd64"), peer, "--format", format_)
    digest = _digest_of(mirror, peer)
    if format_ == "oci":
        assert digest == test_images.digest("amd64")

    mirror.copy(peer, ours, "--dest-creds", creds)
    assert _digest_of(mirror, ours, "--creds", creds) == digest
    peer_response = _served(distribution.url, repo, "v1")
    peer_bytes = peer_response.content
    our_response = _served(sqlite_registry.url, repo, "v1", sqlite_registry.admin_auth)
    assert our_response.content == peer_bytes
    assert our_response.headers["Docker-Content-Digest"] == digest
    assert our_response.headers["Content-Type"] == peer_response.headers["Content-Type"]

    mirror.copy(ours, back, "--src-creds", creds)
    assert _digest_of(mirror, back) == digest
    assert _served(distribution.url, f"{repo}/back", "v1").content == peer_bytes

    # Every blob cargohold serves is the one distribution serves.
    document = json.loads(peer_bytes)
    for descriptor in [document["config"], *document["layers"]]:
        theirs = httpx.get(f"{distribution.url}/v2/{repo}/blobs/{descriptor['digest']}", timeout=30)
        mine = httpx.get(
            f"{sqlite_registry.url}/v2/{repo}/blobs/{descriptor['digest']}",
            auth=sqlite_registry.admin_auth,
            timeout=30,
        )
        assert theirs.status_code == mine.status_code == 200
        assert mine.content == theirs.content
        assert sha256(mine.content) == descriptor["digest"]
    assert [layer["digest"] for layer in document["layers"]] == test_images.layer_digests("amd64")

    if format_ == "oci":
        out = tmp_path / "pulled"
        mirror.copy(ours, f"oci:{out}:v1", "--src-creds", creds)
        assert compare_layouts(test_images.layout, out, "amd64", "v1") == []


def test_multi_arch_index_from_distribution_keeps_every_digest(
    mirror: Skopeo,
    distribution: DistributionRegistry,
    sqlite_registry: CargoholdServer,
    people: People,
    test_images: BuiltImages,
    ci_repo: str,
    tmp_path: Path,
) -> None:
    repo = ci_repo
    creds = people.ci.creds
    peer = f"docker://{distribution.host}/{repo}:multi"
    ours = f"docker://{sqlite_registry.host}/{repo}:multi"
    back = f"docker://{distribution.host}/{repo}/back:multi"
    index = test_images.digest("multi")

    mirror.copy(test_images.ref("multi"), peer, "--all")
    assert _digest_of(mirror, peer) == index
    mirror.copy(peer, ours, "--all", "--dest-creds", creds)
    assert _digest_of(mirror, ours, "--creds", creds) == index
    mirror.copy(ours, back, "--all", "--src-creds", creds)
    assert _digest_of(mirror, back) == index

    for arch in ("amd64", "arm64"):
        child = test_images.digest(arch)
        expected = blob_bytes(test_images.layout, child)
        assert (
            _served(sqlite_registry.url, repo, child, sqlite_registry.admin_auth).content
            == expected
        )
        assert _served(distribution.url, f"{repo}/back", child).content == expected

    out = tmp_path / "pulled"
    mirror.copy(ours, f"oci:{out}:multi", "--all", "--src-creds", creds)
    assert compare_layouts(test_images.layout, out, "multi", "multi") == []


def test_tags_copied_from_distribution_are_listed(
    mirror: Skopeo,
    distribution: DistributionRegistry,
    sqlite_registry: CargoholdServer,
    people: People,
    test_images: BuiltImages,
    ci_repo: str,
) -> None:
    repo = ci_repo
    creds = people.ci.creds
    for tag, arch in (("1.0", "amd64"), ("1.0-arm64", "arm64"), ("latest", "amd64")):
        mirror.copy(test_images.ref(arch), f"docker://{distribution.host}/{repo}:{tag}")
        mirror.copy(
            f"docker://{distribution.host}/{repo}:{tag}",
            f"docker://{sqlite_registry.host}/{repo}:{tag}",
            "--dest-creds",
            creds,
        )

    def tags(host: str, *options: str) -> list[str]:
        listed = mirror.run("list-tags", "--tls-verify=false", *options, f"docker://{host}/{repo}")
        return sorted(json.loads(listed.stdout)["Tags"])

    assert (
        tags(sqlite_registry.host, "--creds", creds)
        == tags(distribution.host)
        == ["1.0", "1.0-arm64", "latest"]
    )
    for tag in ("1.0", "1.0-arm64", "latest"):
        assert _digest_of(
            mirror, f"docker://{sqlite_registry.host}/{repo}:{tag}", "--creds", creds
        ) == _digest_of(mirror, f"docker://{distribution.host}/{repo}:{tag}")
