"""Manifests: PUT, GET, HEAD and DELETE by tag and by digest, stored byte for byte."""

from __future__ import annotations

import hashlib
import json

import httpx

from tests.support.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    EMPTY_JSON_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    encode,
    error_code,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    sha256,
)


def test_put_by_tag_then_get_and_head_serve_the_same_bytes(client: httpx.Client, repo: str) -> None:
    document = image_manifest(client, repo, layers=[b"a", b"b"])
    # Unusual whitespace and key order: the registry must never re-serialise.
    body = json.dumps(document, indent=3, sort_keys=True).encode() + b"\n"
    digest = sha256(body)

    put = put_manifest(client, repo, "v1", body, OCI_MANIFEST)
    assert put.status_code == 201
    assert put.headers["Docker-Content-Digest"] == digest
    assert put.headers["Location"] == f"/v2/{repo}/manifests/{digest}"

    for reference in ("v1", digest):
        got = client.get(f"/v2/{repo}/manifests/{reference}")
        assert got.status_code == 200
        assert got.content == body
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == digest
        assert got.headers["Content-Length"] == str(len(body))
        head = client.head(f"/v2/{repo}/manifests/{reference}")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["Content-Length"] == str(len(body))
        assert head.headers["Docker-Content-Digest"] == digest
        assert head.headers["Content-Type"] == OCI_MANIFEST


def test_docker_schema2_and_manifest_list(client: httpx.Client, repo: str) -> None:
    amd64, amd_body = push_image(client, repo, "amd64", media_type=DOCKER_MANIFEST, layers=[b"x86"])
    arm64, arm_body = push_image(client, repo, "arm64", media_type=DOCKER_MANIFEST, layers=[b"arm"])
    manifest_list = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": amd64,
                "size": len(amd_body),
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": arm64,
                "size": len(arm_body),
                "platform": {"architecture": "arm64", "os": "linux"},
            },
        ],
    }
    response = put_manifest(client, repo, "multi", manifest_list)
    assert response.status_code == 201, response.text
    got = client.get(f"/v2/{repo}/manifests/multi")
    assert got.headers["Content-Type"] == DOCKER_LIST
    assert got.content == encode(manifest_list)
    assert client.get(f"/v2/{repo}/manifests/{arm64}").headers["Content-Type"] == DOCKER_MANIFEST


def test_oci_index_requires_its_children_in_the_repository(client: httpx.Client, repo: str) -> None:
    child, child_body = push_image(client, repo, "child")
    missing = "sha256:" + "1" * 64
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_body)},
            {"mediaType": OCI_MANIFEST, "digest": missing, "size": 10},
        ],
    }
    response = put_manifest(client, repo, "index", index)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert missing in response.json()["errors"][0]["message"]

    index["manifests"] = index["manifests"][:1]
    assert put_manifest(client, repo, "index", index).status_code == 201


def test_missing_layer_is_named_in_the_error(client: httpx.Client, repo: str) -> None:
    document = image_manifest(client, repo, layers=[b"present"])
    absent = b"never uploaded"
    document["layers"].append(descriptor("application/vnd.oci.image.layer.v1.tar", absent))
    response = put_manifest(client, repo, "broken", document)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert sha256(absent) in response.json()["errors"][0]["message"]
    assert client.get(f"/v2/{repo}/manifests/broken").status_code == 404


def test_blobs_of_another_repository_do_not_count(client: httpx.Client, repo: str) -> None:
    document = image_manifest(client, repo + "-other")
    response = put_manifest(client, repo, "v1", document)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


def test_artifact_with_empty_config_zero_layers_and_unknown_types(
    client: httpx.Client, repo: str
) -> None:
    # The OCI empty descriptor as config, never uploaded, and no layers at all.
    artifact = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom+json",
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [],
    }
    assert put_manifest(client, repo, "sbom", artifact).status_code == 201
    assert client.get(f"/v2/{repo}/blobs/{EMPTY_JSON_DIGEST}").content == b"{}"

    # An unknown config media type (a Helm chart) and an unknown manifest media type.
    chart = b"chart-tarball"
    push_blob(client, repo, chart)
    config = b'{"name":"demo","version":"0.1.0"}'
    push_blob(client, repo, config)
    helm = {
        "schemaVersion": 2,
        "config": descriptor("application/vnd.cncf.helm.config.v1+json", config),
        "layers": [descriptor("application/vnd.cncf.helm.chart.content.v1.tar+gzip", chart)],
    }
    assert put_manifest(client, repo, "0.1.0", helm, OCI_MANIFEST).status_code == 201
    odd = {"schemaVersion": 2, "mediaType": "application/vnd.example.thing+json", "x": 1}
    response = put_manifest(client, repo, "odd", odd)
    assert response.status_code == 201, response.text
    assert (
        client.get(f"/v2/{repo}/manifests/odd").headers["Content-Type"]
        == "application/vnd.example.thing+json"
    )


def test_media_type_contradicting_content_type_is_invalid(client: httpx.Client, repo: str) -> None:
    document = image_manifest(client, repo)
    response = put_manifest(client, repo, "v1", document, DOCKER_MANIFEST)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert "contradicts" in response.json()["errors"][0]["message"]


def test_schema1_and_withdrawn_artifact_manifest_are_refused(
    client: httpx.Client, repo: str
) -> None:
    schema1 = {"schemaVersion": 1, "name": repo, "tag": "old", "fsLayers": [], "history": []}
    for content_type in (
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/json",
    ):
        response = put_manifest(client, repo, "old", schema1, content_type)
        assert response.status_code == 400
        assert error_code(response) == "MANIFEST_INVALID"
        assert "schema1" in response.json()["errors"][0]["message"]
    withdrawn = {
        "mediaType": "application/vnd.oci.artifact.manifest.v1+json",
        "artifactType": "application/example",
    }
    response = put_manifest(client, repo, "art", withdrawn)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert "withdrawn" in response.json()["errors"][0]["message"]


def test_invalid_json_and_bad_descriptors(client: httpx.Client, repo: str) -> None:
    response = put_manifest(client, repo, "v1", b"{not json", OCI_MANIFEST)
    assert (response.status_code, error_code(response)) == (400, "MANIFEST_INVALID")
    bad = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "x", "digest": "sha256:nothex", "size": 1},
        "layers": [],
    }
    response = put_manifest(client, repo, "v1", bad)
    assert (response.status_code, error_code(response)) == (400, "MANIFEST_INVALID")
    assert "config.digest" in response.json()["errors"][0]["message"]


def test_put_by_digest_must_match(client: httpx.Client, repo: str) -> None:
    body = encode(image_manifest(client, repo))
    wrong = "sha256:" + "0" * 64
    response = put_manifest(client, repo, wrong, body, OCI_MANIFEST)
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")
    response = put_manifest(client, repo, sha256(body), body, OCI_MANIFEST)
    assert response.status_code == 201
    # An untagged manifest pushed by digest is not listed as a tag.
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []


def test_sha512_manifest_reference(client: httpx.Client, repo: str) -> None:
    body = encode(image_manifest(client, repo))
    digest = "sha512:" + hashlib.sha512(body).hexdigest()
    response = put_manifest(client, repo, digest, body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/{repo}/manifests/{digest}").content == body


def test_manifest_over_4_mib_is_413(client: httpx.Client, repo: str) -> None:
    document = image_manifest(client, repo)
    document["annotations"] = {"padding": "x" * (4 * 1024 * 1024)}
    response = put_manifest(client, repo, "huge", document)
    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"


def test_invalid_tag_and_name(client: httpx.Client, repo: str) -> None:
    document = image_manifest(client, repo)
    response = put_manifest(client, repo, "-bad", document)
    assert (response.status_code, error_code(response)) == (400, "TAG_INVALID")
    response = put_manifest(client, repo, "x" * 129, document)
    assert (response.status_code, error_code(response)) == (400, "TAG_INVALID")
    for name in ("UPPER/case", "double//slash", "trailing-", "a" * 256):
        response = client.get(f"/v2/{name}/manifests/latest")
        assert (response.status_code, error_code(response)) == (400, "NAME_INVALID"), name


def test_a_reference_that_is_neither_tag_nor_digest_is_an_unknown_manifest(
    client: httpx.Client, repo: str
) -> None:
    # The OCI conformance suite pulls `.INVALID_MANIFEST_NAME` and wants 404; no manifest can
    # be stored under such a reference. Only a PUT, which would create one, is told why not.
    document = image_manifest(client, repo)
    assert put_manifest(client, repo, "v1", document).status_code == 201
    for reference in (
        ".INVALID_MANIFEST_NAME",
        "-bad",
        "x" * 129,
        "sha256:totallywrong",
        "md5:" + "a" * 32,
        "sha384:" + "a" * 96,
    ):
        response = client.get(f"/v2/{repo}/manifests/{reference}")
        assert (response.status_code, error_code(response)) == (404, "MANIFEST_UNKNOWN"), reference
        head = client.head(f"/v2/{repo}/manifests/{reference}")
        assert (head.status_code, head.content) == (404, b""), reference
        response = client.delete(f"/v2/{repo}/manifests/{reference}")
        assert (response.status_code, error_code(response)) == (404, "MANIFEST_UNKNOWN"), reference
    response = client.get(f"/v2/{repo}-never-pushed/manifests/.INVALID_MANIFEST_NAME")
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")
    response = put_manifest(client, repo, ".INVALID_MANIFEST_NAME", document)
    assert (response.status_code, error_code(response)) == (400, "TAG_INVALID")
    response = put_manifest(client, repo, "sha256:totallywrong", document)
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 200


def test_unknown_manifest_and_unknown_repository(client: httpx.Client, repo: str) -> None:
    response = client.get(f"/v2/{repo}/manifests/latest")
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")
    push_image(client, repo, "v1")
    response = client.get(f"/v2/{repo}/manifests/nope")
    assert (response.status_code, error_code(response)) == (404, "MANIFEST_UNKNOWN")
    head = client.head(f"/v2/{repo}/manifests/nope")
    assert head.status_code == 404
    assert head.content == b""


def test_retagging_moves_the_tag(client: httpx.Client, repo: str) -> None:
    first, _ = push_image(client, repo, "latest", layers=[b"one"])
    second, _ = push_image(client, repo, "latest", layers=[b"two"])
    assert first != second
    response = client.get(f"/v2/{repo}/manifests/latest")
    assert response.headers["Docker-Content-Digest"] == second
    # The first manifest is still there, by digest.
    assert client.get(f"/v2/{repo}/manifests/{first}").status_code == 200


def test_delete_by_tag_removes_only_the_tag(client: httpx.Client, repo: str) -> None:
    digest, _ = push_image(client, repo, "v1")
    assert (
        put_manifest(
            client, repo, "v2", client.get(f"/v2/{repo}/manifests/v1").content, OCI_MANIFEST
        ).status_code
        == 201
    )
    assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 202
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.get(f"/v2/{repo}/manifests/v2").status_code == 200
    assert client.get(f"/v2/{repo}/manifests/{digest}").status_code == 200
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v2"]


def test_delete_by_digest_removes_manifest_and_its_tags(client: httpx.Client, repo: str) -> None:
    digest, _ = push_image(client, repo, "v1")
    response = client.delete(f"/v2/{repo}/manifests/{digest}")
    assert response.status_code == 202
    assert client.get(f"/v2/{repo}/manifests/{digest}").status_code == 404
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    response = client.delete(f"/v2/{repo}/manifests/{digest}")
    assert (response.status_code, error_code(response)) == (404, "MANIFEST_UNKNOWN")
    response = client.delete(f"/v2/{repo}-never/manifests/{digest}")
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")


def test_subject_is_accepted_even_when_absent_and_answered_with_oci_subject(
    client: httpx.Client, repo: str
) -> None:
    absent_subject = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 123}
    signature = image_manifest(
        client,
        repo,
        layers=[b"signature"],
        artifactType="application/vnd.example.signature",
        subject=absent_subject,
    )
    body = encode(signature)
    response = put_manifest(client, repo, sha256(body), body, OCI_MANIFEST)
    assert response.status_code == 201
    assert response.headers["OCI-Subject"] == absent_subject["digest"]
    got = client.get(f"/v2/{repo}/manifests/{sha256(body)}")
    assert got.headers["OCI-Subject"] == absent_subject["digest"]


def test_pushing_the_same_manifest_twice_is_idempotent(client: httpx.Client, repo: str) -> None:
    digest, body = push_image(client, repo, "v1")
    again = put_manifest(client, repo, "v1", body, OCI_MANIFEST)
    assert again.status_code == 201
    assert again.headers["Docker-Content-Digest"] == digest
