"""skopeo against cargohold: copy (OCI and Docker v2s2, single and multi-arch), inspect,
list-tags and delete, with umoci-built images that must come back byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import Skopeo
from tests.support.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    OS_RELEASE,
    README,
    BuiltImages,
    blob_bytes,
    compare_layouts,
    layer_files,
    sha256,
)
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(300)]

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def _get_manifest(registry: CargoholdServer, repo: str, reference: str) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/v2/{repo}/manifests/{reference}",
        headers={"Accept": ACCEPT_ALL},
        auth=registry.admin_auth,
        timeout=30,
    )


def _get_blob(registry: CargoholdServer, repo: str, digest: str) -> bytes:
    response = httpx.get(
        f"{registry.url}/v2/{repo}/blobs/{digest}", auth=registry.admin_auth, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.content


def _dir_problems(path: Path) -> list[str]:
    """Files of a skopeo `dir:` copy whose bytes do not hash to their names."""
    problems = []
    for file in path.iterdir():
        name = file.name.removesuffix(".manifest.json")
        if len(name) == 64 and sha256(file.read_bytes()) != f"sha256:{name}":
            problems.append(file.name)
    return problems


def test_oci_copy_round_trip_is_byte_identical(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    repo: str,
    tmp_path: Path,
) -> None:
    source_digest = test_images.digest("amd64")
    digestfile = tmp_path / "digest"
    skopeo.copy(
        test_images.ref("amd64"),
        f"docker://{sqlite_registry.host}/{repo}:v1",
        "--format",
        "oci",
        "--digestfile",
        str(digestfile),
    )
    assert digestfile.read_text().strip() == source_digest

    # The registry serves exactly the manifest and blobs umoci wrote.
    got = _get_manifest(sqlite_registry, repo, "v1")
    assert got.status_code == 200
    assert got.headers["Docker-Content-Digest"] == source_digest
    assert got.headers["Content-Type"] == OCI_MANIFEST
    assert got.content == blob_bytes(test_images.layout, source_digest)
    manifest = test_images.manifest("amd64")
    for descriptor in [manifest["config"], *manifest["layers"]]:
        served = _get_blob(sqlite_registry, repo, descriptor["digest"])
        assert served == blob_bytes(test_images.layout, descriptor["digest"])

    out = tmp_path / "pulled"
    skopeo.copy(f"docker://{sqlite_registry.host}/{repo}:v1", f"oci:{out}:back")
    assert compare_layouts(test_images.layout, out, "amd64", "back") == []

    pulled = BuiltImages(out)
    files: dict[str, bytes] = {}
    for digest in pulled.layer_digests("back"):
        files.update(layer_files(blob_bytes(out, digest)))
    assert files["etc/os-release"] == OS_RELEASE.encode()
    assert files["usr/share/doc/cargohold-test/README.txt"] == README.encode()
    assert b"Architecture: amd64" in files["var/lib/dpkg/status"]


def test_v2s2_copy_keeps_layers_and_the_pushed_manifest_digest(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    repo: str,
    tmp_path: Path,
) -> None:
    digestfile = tmp_path / "digest"
    reference = f"docker://{sqlite_registry.host}/{repo}:v2s2"
    skopeo.copy(
        test_images.ref("amd64"), reference, "--format", "v2s2", "--digestfile", str(digestfile)
    )
    pushed = digestfile.read_text().strip()

    raw = skopeo.inspect_raw(reference)
    assert sha256(raw) == pushed
    document = json.loads(raw)
    assert document["mediaType"] == DOCKER_MANIFEST
    assert document["config"]["mediaType"] == DOCKER_CONFIG
    assert [layer["mediaType"] for layer in document["layers"]] == [DOCKER_LAYER] * 3
    # Converting the manifest never touches the compressed layers.
    assert [layer["digest"] for layer in document["layers"]] == test_images.layer_digests("amd64")

    got = _get_manifest(sqlite_registry, repo, pushed)
    assert got.status_code == 200
    assert got.headers["Content-Type"] == DOCKER_MANIFEST
    assert got.content == raw

    # dir: keeps the manifest as served: the re-pulled manifest is the pushed one.
    out = tmp_path / "dir"
    skopeo.copy(reference, f"dir:{out}")
    assert sha256((out / "manifest.json").read_bytes()) == pushed
    assert _dir_problems(out) == []
    for digest in test_images.layer_digests("amd64"):
        assert (out / digest.split(":", 1)[1]).read_bytes() == blob_bytes(
            test_images.layout, digest
        )

    # And back to OCI: same layers, same config, byte for byte.
    oci_out = tmp_path / "oci"
    skopeo.copy(reference, f"oci:{oci_out}:again", "--format", "oci")
    again = BuiltImages(oci_out)
    assert again.layer_digests("again") == test_images.layer_digests("amd64")
    for digest in again.layer_digests("again"):
        assert blob_bytes(oci_out, digest) == blob_bytes(test_images.layout, digest)
    config = again.manifest("again")["config"]
    assert json.loads(blob_bytes(oci_out, config["digest"]))["architecture"] == "amd64"


def test_all_copies_the_two_platform_index_byte_for_byte(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    repo: str,
    tmp_path: Path,
) -> None:
    index_digest = test_images.digest("multi")
    digestfile = tmp_path / "digest"
    reference = f"docker://{sqlite_registry.host}/{repo}:multi"
    skopeo.copy(
        test_images.ref("multi"),
        reference,
        "--all",
        "--format",
        "oci",
        "--digestfile",
        str(digestfile),
    )
    assert digestfile.read_text().strip() == index_digest
    assert skopeo.inspect_raw(reference) == blob_bytes(test_images.layout, index_digest)

    got = _get_manifest(sqlite_registry, repo, "multi")
    assert got.headers["Content-Type"] == OCI_INDEX
    assert got.headers["Docker-Content-Digest"] == index_digest
    for arch in ("amd64", "arm64"):
        child = _get_manifest(sqlite_registry, repo, test_images.digest(arch))
        assert child.status_code == 200
        assert child.content == blob_bytes(test_images.layout, test_images.digest(arch))

    # inspect picks the platform's image from the index (Digest stays the index's).
    arm = skopeo.inspect(reference, "--override-arch", "arm64", "--override-variant", "v8")
    assert arm["Digest"] == index_digest
    assert arm["Architecture"] == "arm64"
    assert arm["Layers"] == test_images.layer_digests("arm64")
    amd = skopeo.inspect(reference, "--override-arch", "amd64", "--override-os", "linux")
    assert amd["Architecture"] == "amd64"
    assert amd["Layers"] == test_images.layer_digests("amd64")

    out = tmp_path / "pulled"
    skopeo.copy(reference, f"oci:{out}:multi", "--all")
    assert compare_layouts(test_images.layout, out, "multi", "multi") == []
    # A second pull gives the very same layout, index.json digests and blobs included.
    again = tmp_path / "pulled-again"
    skopeo.copy(reference, f"oci:{again}:multi", "--all")
    assert compare_layouts(out, again) == []


def test_all_with_v2s2_stores_a_docker_manifest_list(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    repo: str,
    tmp_path: Path,
) -> None:
    digestfile = tmp_path / "digest"
    reference = f"docker://{sqlite_registry.host}/{repo}:list"
    skopeo.copy(
        test_images.ref("multi"),
        reference,
        "--all",
        "--format",
        "v2s2",
        "--digestfile",
        str(digestfile),
    )
    pushed = digestfile.read_text().strip()
    raw = skopeo.inspect_raw(reference)
    assert sha256(raw) == pushed
    listing = json.loads(raw)
    assert listing["mediaType"] == DOCKER_LIST
    platforms = {m["platform"]["architecture"]: m for m in listing["manifests"]}
    assert sorted(platforms) == ["amd64", "arm64"]
    assert platforms["arm64"]["platform"].get("variant") == "v8"

    got = _get_manifest(sqlite_registry, repo, "list")
    assert got.headers["Content-Type"] == DOCKER_LIST
    assert got.content == raw

    out = tmp_path / "dir"
    skopeo.copy(reference, f"dir:{out}", "--all")
    assert sha256((out / "manifest.json").read_bytes()) == pushed
    assert _dir_problems(out) == []
    for arch, descriptor in platforms.items():
        assert descriptor["mediaType"] == DOCKER_MANIFEST
        child_file = out / f"{descriptor['digest'].split(':', 1)[1]}.manifest.json"
        child = json.loads(child_file.read_bytes())
        assert child["mediaType"] == DOCKER_MANIFEST
        assert [layer["digest"] for layer in child["layers"]] == test_images.layer_digests(arch)


def test_inspect_reports_what_was_pushed(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    repo: str,
) -> None:
    reference = f"docker://{sqlite_registry.host}/{repo}:inspect-me"
    skopeo.copy(test_images.ref("arm64"), reference, "--format", "oci")

    facts = skopeo.inspect(reference)
    assert facts["Digest"] == test_images.digest("arm64")
    assert facts["Architecture"] == "arm64"
    assert facts["Os"] == "linux"
    assert facts["RepoTags"] == ["inspect-me"]
    assert facts["Layers"] == test_images.layer_digests("arm64")
    assert facts["Labels"] == {"org.opencontainers.image.title": "cargohold-test"}
    assert facts["Created"] == "2024-01-02T03:04:05Z"

    assert skopeo.inspect_raw(reference) == blob_bytes(
        test_images.layout, test_images.digest("arm64")
    )
    config = skopeo.run("inspect", "--tls-verify=false", "--config", "--raw", reference).stdout
    config_digest = test_images.manifest("arm64")["config"]["digest"]
    assert config == blob_bytes(test_images.layout, config_digest)

    formatted = skopeo.run("inspect", "--tls-verify=false", "--format", "{{.Digest}}", reference)
    assert formatted.stdout.decode().strip() == test_images.digest("arm64")
    # By digest too, as a pinned deployment would pull it.
    pinned = skopeo.inspect(f"docker://{sqlite_registry.host}/{repo}@{test_images.digest('arm64')}")
    assert pinned["Digest"] == test_images.digest("arm64")


def test_list_tags_lists_every_pushed_tag(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    repo: str,
) -> None:
    tags = ["v1", "v1.0.1", "latest", "Stable_2024", "a-b.c"]
    for tag in tags:
        skopeo.copy(test_images.ref("amd64"), f"docker://{sqlite_registry.host}/{repo}:{tag}")
    skopeo.copy(test_images.ref("arm64"), f"docker://{sqlite_registry.host}/{repo}:arm")

    listed = json.loads(
        skopeo.run(
            "list-tags", "--tls-verify=false", f"docker://{sqlite_registry.host}/{repo}"
        ).stdout
    )
    assert listed["Repository"] == f"{sqlite_registry.host}/{repo}"
    assert sorted(listed["Tags"]) == sorted([*tags, "arm"])
    for tag in tags:
        digest = skopeo.run(
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            f"docker://{sqlite_registry.host}/{repo}:{tag}",
        )
        assert digest.stdout.decode().strip() == test_images.digest("amd64")


def test_delete_removes_the_manifest_and_its_tags(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    repo: str,
) -> None:
    host = sqlite_registry.host
    skopeo.copy(test_images.ref("amd64"), f"docker://{host}/{repo}:doomed")
    skopeo.copy(test_images.ref("amd64"), f"docker://{host}/{repo}:doomed-too")
    skopeo.copy(test_images.ref("arm64"), f"docker://{host}/{repo}:kept")
    doomed = test_images.digest("amd64")
    assert _get_manifest(sqlite_registry, repo, doomed).status_code == 200

    skopeo.run("delete", "--tls-verify=false", f"docker://{host}/{repo}:doomed")

    for reference in (doomed, "doomed", "doomed-too"):
        gone = _get_manifest(sqlite_registry, repo, reference)
        assert gone.status_code == 404, reference
        assert gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    failed = skopeo.run(
        "inspect", "--tls-verify=false", f"docker://{host}/{repo}:doomed", check=False
    )
    assert failed.returncode != 0
    assert b"manifest unknown" in failed.stderr.lower()

    listed = json.loads(
        skopeo.run("list-tags", "--tls-verify=false", f"docker://{host}/{repo}").stdout
    )
    assert listed["Tags"] == ["kept"]
    assert skopeo.inspect(f"docker://{host}/{repo}:kept")["Digest"] == test_images.digest("arm64")

    # skopeo deletes by digest; the audit names the image and the tags that went with it.
    events = httpx.get(
        f"{sqlite_registry.url}/api/v1/audit",
        params={"repository": repo, "n": 200},
        auth=sqlite_registry.admin_auth,
        timeout=30,
    )
    deleted = [
        e
        for e in events.json()["events"]
        if (e["action"], e["target"]) == ("manifest.delete", f"{repo}@{doomed}")
    ]
    assert [e["detail"]["tags"] for e in deleted] == [["doomed", "doomed-too"]]


def test_copy_between_repositories_keeps_the_digest(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    repo: str,
    tmp_path: Path,
) -> None:
    host = sqlite_registry.host
    skopeo.copy(test_images.ref("multi"), f"docker://{host}/{repo}/source:v1", "--all")
    # Registry to registry: skopeo mounts the blobs across repositories.
    skopeo.copy(
        f"docker://{host}/{repo}/source:v1",
        f"docker://{host}/{repo}/mirror:v1",
        "--all",
        "--preserve-digests",
    )
    mirrored = skopeo.inspect_raw(f"docker://{host}/{repo}/mirror:v1")
    assert sha256(mirrored) == test_images.digest("multi")
    assert mirrored == blob_bytes(test_images.layout, test_images.digest("multi"))

    out = tmp_path / "mirror"
    skopeo.copy(f"docker://{host}/{repo}/mirror:v1", f"oci:{out}:v1", "--all")
    assert compare_layouts(test_images.layout, out, "multi", "v1") == []
