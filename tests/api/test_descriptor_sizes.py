"""Descriptor sizes: bounded, true where the registry holds the content, and summable.

A layer that claimed 2^63-1 bytes used to be accepted, and from then on every SUM over
sizes (the storage report) failed with an integer overflow.
"""

from __future__ import annotations

import hashlib

import httpx

from tests.api.helpers import assert_error
from tests.support.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    encode,
    image_manifest,
    push_image,
    put_manifest,
    sha256,
)

INT64_MAX = 2**63 - 1
FOREIGN = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
FOREIGN_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


def _reports_answer(client: httpx.Client, repo: str) -> dict[str, object]:
    """Every report that sums sizes answers; returns the repository's storage row."""
    storage = client.get("/api/v1/storage")
    assert storage.status_code == 200, storage.text
    for path in ("/api/v1/system", "/api/v1/repositories", f"/api/v1/repositories/{repo}/tags"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
    quota = client.get(f"/api/v1/projects/{repo.split('/')[0]}/quota")
    assert quota.status_code == 200, quota.text
    rows = {row["repository"]: row for row in storage.json()["repositories"]}
    return rows[repo]


def test_a_size_that_differs_from_the_stored_blob_is_refused(
    client: httpx.Client, repo: str
) -> None:
    for field, size in (
        ("layer", INT64_MAX),
        ("layer", 2**40),
        ("layer", 0),
        ("config", INT64_MAX),
    ):
        document = image_manifest(client, repo)
        descriptor = document["layers"][0] if field == "layer" else document["config"]
        true_size = descriptor["size"]
        descriptor["size"] = size if size != true_size else size + 1
        response = put_manifest(client, repo, "liar", document)
        assert_error(response, 400, "MANIFEST_INVALID")
        error = response.json()["errors"][0]
        assert str(true_size) in error["message"], error
        assert error["detail"][0]["digest"] == descriptor["digest"]
    assert_error(client.get(f"/v2/{repo}/manifests/liar"), 404, "MANIFEST_UNKNOWN")
    _reports_answer(client, repo)


def test_a_child_manifest_size_that_differs_is_refused(client: httpx.Client, repo: str) -> None:
    digest, body = push_image(client, repo, "child")
    for media_type, child_type in ((OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)):
        index = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [{"mediaType": child_type, "digest": digest, "size": len(body) + 1}],
        }
        assert_error(put_manifest(client, repo, "index", index), 400, "MANIFEST_INVALID")
        index["manifests"][0]["size"] = len(body)
        assert put_manifest(client, repo, "index", index).status_code == 201


def test_a_subject_in_the_repository_must_have_its_size_and_an_absent_one_is_accepted(
    client: httpx.Client, repo: str
) -> None:
    digest, body = push_image(client, repo, "subject")
    referrer = image_manifest(client, repo, layers=[b"sbom"], artifactType="application/x.sbom")
    referrer["subject"] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body) + 5}
    assert_error(put_manifest(client, repo, "ref", referrer), 400, "MANIFEST_INVALID")
    referrer["subject"]["size"] = len(body)
    assert put_manifest(client, repo, "ref", referrer).status_code == 201
    absent = "sha256:" + hashlib.sha256(b"not pushed").hexdigest()
    referrer["subject"] = {"mediaType": OCI_MANIFEST, "digest": absent, "size": INT64_MAX}
    response = put_manifest(client, repo, "ref-absent", referrer)
    assert response.status_code == 201, response.text
    assert response.headers["OCI-Subject"] == absent


def test_foreign_layers_keep_their_declared_sizes_and_reports_sum_them_exactly(
    client: httpx.Client, repo: str
) -> None:
    foreign = [
        {
            "mediaType": media_type,
            "digest": "sha256:" + hashlib.sha256(repo.encode() + bytes([i])).hexdigest(),
            "size": INT64_MAX,
            "urls": [f"https://example.com/layer{i}.tar.gz"],
        }
        for i, media_type in enumerate((FOREIGN, FOREIGN_TAR, DOCKER_FOREIGN))
    ]
    document = image_manifest(client, repo, layers=[b"local"])
    document["layers"] += foreign
    body = encode(document)
    response = put_manifest(client, repo, "foreign", body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    row = _reports_answer(client, repo)
    local = document["config"]["size"] + document["layers"][0]["size"]
    assert row["logicalBytes"] == len(body) + local + 3 * INT64_MAX
    tags = client.get(f"/api/v1/repositories/{repo}/tags").json()["tags"]
    assert tags[0]["sizeBytes"] == len(body) + local + 3 * INT64_MAX
    # A second image with the same foreign layers: the totals go on past 2^64.
    push = image_manifest(client, repo, layers=[b"other"])
    push["layers"] += foreign
    assert put_manifest(client, repo, "foreign2", push).status_code == 201
    assert _reports_answer(client, repo)["logicalBytes"] > 6 * INT64_MAX
    assert client.get(f"/v2/{repo}/manifests/foreign").content == body
    assert sha256(body) == response.headers["Docker-Content-Digest"]
