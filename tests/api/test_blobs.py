"""Blobs: the version check, HEAD/GET with Range, DELETE, and repository isolation."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.helpers import assert_error, error_codes, push_blob_chunked
from tests.support.oci import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_EMPTY,
    digest_of,
    push_blob,
    push_image,
    put_manifest,
)

DATA = bytes(range(256)) * 4 + b"tail"  # 1028 bytes, every offset distinguishable
SIZE = len(DATA)


def test_version_check(client: httpx.Client) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_api_version_header_is_on_errors_too(client: httpx.Client, repo: str) -> None:
    response = client.get(f"/v2/{repo}/blobs/{digest_of(b'never pushed')}")
    assert_error(response, 404, "BLOB_UNKNOWN")
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_head_and_get(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, repo, DATA)

    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.headers["Content-Length"] == str(SIZE)
    assert head.content == b""

    get = client.get(f"/v2/{repo}/blobs/{digest}")
    assert get.status_code == 200
    assert get.headers["Docker-Content-Digest"] == digest
    assert get.headers["Content-Length"] == str(SIZE)
    assert get.content == DATA


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-3", 0, 3),
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, SIZE - 1),
        ("bytes=-4", SIZE - 4, SIZE - 1),
        ("bytes=0-0", 0, 0),
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),
        # An end past the blob is cut to the blob; a suffix longer than it is the whole blob.
        ("bytes=1020-99999", 1020, SIZE - 1),
        ("bytes=-99999", 0, SIZE - 1),
    ],
)
def test_range(client: httpx.Client, repo: str, header: str, start: int, end: int) -> None:
    digest = push_blob(client, repo, DATA)
    response = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.content == DATA[start : end + 1]


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={SIZE}-",  # starts at the end
        "bytes=5000-6000",  # starts past the end
        "bytes=10-5",  # last before first
        "bytes=-0",  # empty suffix
        "bytes=abc",
        "bytes=-",
        "pages=0-3",  # unknown unit
    ],
)
def test_bad_or_unsatisfiable_range_is_416(client: httpx.Client, repo: str, header: str) -> None:
    digest = push_blob(client, repo, DATA)
    response = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"
    error_codes(response)


def test_head_ignores_range(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, repo, DATA)
    for header in ("bytes=0-3", f"bytes={SIZE + 10}-"):
        head = client.head(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(SIZE)


def test_unknown_blob(client: httpx.Client, repo: str) -> None:
    push_blob(client, repo, b"something else")
    digest = digest_of(b"never pushed anywhere")
    assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 404
    assert head.content == b""


def test_blob_of_another_repository_is_unknown(client: httpx.Client, repo: str) -> None:
    """Knowing a digest does not let one read a layer of a repository through another."""
    secret = b"layer only in the private repository " + repo.encode()
    digest = push_blob(client, f"{repo}/private", secret)
    push_blob(client, f"{repo}/public", b"public content")

    for name in (f"{repo}/public", f"{repo}/never-created"):
        assert_error(client.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
        assert client.head(f"/v2/{name}/blobs/{digest}").status_code == 404
        ranged = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "bytes=0-3"})
        assert_error(ranged, 404, "BLOB_UNKNOWN")
    assert client.get(f"/v2/{repo}/private/blobs/{digest}").content == secret


def test_malformed_digest_and_name(client: httpx.Client, repo: str) -> None:
    for digest in ("sha256:abc", "sha256:" + "Z" * 64, "md5:" + "0" * 32, "notadigest"):
        assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 400, "DIGEST_INVALID")
    digest = digest_of(b"x")
    assert_error(client.get(f"/v2/Upper/Case/blobs/{digest}"), 400, "NAME_INVALID")
    assert_error(client.delete(f"/v2/Upper/Case/blobs/{digest}"), 400, "NAME_INVALID")


def test_sha512_blob(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, repo, DATA, algorithm="sha512")
    assert digest.startswith("sha512:")
    get = client.get(f"/v2/{repo}/blobs/{digest}")
    assert get.status_code == 200
    assert get.content == DATA
    assert get.headers["Docker-Content-Digest"] == digest
    ranged = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=-4"})
    assert ranged.status_code == 206
    assert ranged.content == b"tail"

    other = DATA[::-1]
    chunked = push_blob_chunked(client, repo, other, chunk_size=300, algorithm="sha512")
    assert client.get(f"/v2/{repo}/blobs/{chunked}").content == other
    # The same bytes under their sha256 name are a different, unpushed blob.
    assert_error(client.get(f"/v2/{repo}/blobs/{digest_of(other)}"), 404, "BLOB_UNKNOWN")


def test_zero_length_blob(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, repo, b"")
    assert digest == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "0"
    assert head.headers["Docker-Content-Digest"] == digest
    get = client.get(f"/v2/{repo}/blobs/{digest}")
    assert get.status_code == 200
    assert get.content == b""
    assert get.headers["Content-Length"] == "0"
    # No byte range of an empty blob can be satisfied.
    ranged = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=0-"})
    assert ranged.status_code == 416
    assert ranged.headers["Content-Range"] == "bytes */0"

    # Also through a session closed by a body-less PUT, in another repository.
    location = client.post(f"/v2/{repo}/other/blobs/uploads/").headers["Location"]
    put = client.put(location, params={"digest": digest})
    assert put.status_code == 201, put.text
    assert client.get(f"/v2/{repo}/other/blobs/{digest}").content == b""

    assert client.delete(f"/v2/{repo}/blobs/{digest}").status_code == 202
    assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_empty_json_blob(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, repo, EMPTY_JSON)
    assert digest == EMPTY_JSON_DIGEST
    get = client.get(f"/v2/{repo}/blobs/{digest}")
    assert get.status_code == 200
    assert get.content == b"{}"
    assert get.headers["Content-Length"] == "2"
    ranged = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=1-"})
    assert ranged.status_code == 206
    assert ranged.content == b"}"

    layer = b"artifact payload"
    push_blob(client, repo, layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.thing",
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [
            {"mediaType": "application/octet-stream", "digest": digest_of(layer), "size": 16}
        ],
    }
    assert put_manifest(client, repo, "artifact", manifest).status_code == 201
    # Like any referenced blob, it cannot be deleted while the manifest uses it.
    assert_error(client.delete(f"/v2/{repo}/blobs/{digest}"), 405, "UNSUPPORTED")


def test_delete_unlinks_from_this_repository_only(client: httpx.Client, repo: str) -> None:
    first, second = f"{repo}/first", f"{repo}/second"
    digest = push_blob(client, first, DATA)
    mount = client.post(f"/v2/{second}/blobs/uploads/", params={"mount": digest, "from": first})
    assert mount.status_code == 201

    delete = client.delete(f"/v2/{first}/blobs/{digest}")
    assert delete.status_code == 202
    assert_error(client.get(f"/v2/{first}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/{first}/blobs/{digest}").status_code == 404
    get = client.get(f"/v2/{second}/blobs/{digest}")
    assert get.status_code == 200
    assert get.content == DATA

    # Deleting again is BLOB_UNKNOWN; pushing again links it again.
    assert_error(client.delete(f"/v2/{first}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    push_blob(client, first, DATA)
    assert client.get(f"/v2/{first}/blobs/{digest}").content == DATA


def test_delete_unknown_blob_or_repository(client: httpx.Client, repo: str) -> None:
    digest = digest_of(b"nothing")
    push_blob(client, repo, b"something")
    assert_error(client.delete(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    response = client.delete(f"/v2/{repo}/nobody/blobs/{digest}")
    assert response.status_code == 404
    assert set(error_codes(response)) & {"NAME_UNKNOWN", "BLOB_UNKNOWN"}


def test_delete_refused_while_a_manifest_references_the_blob(
    client: httpx.Client, repo: str
) -> None:
    layer = b"referenced layer " + repo.encode()
    manifest_digest, body = push_image(client, repo, "latest", layers=[layer])
    document = json.loads(body)
    layer_digest = digest_of(layer)
    config_digest = document["config"]["digest"]

    for digest in (layer_digest, config_digest):
        assert_error(client.delete(f"/v2/{repo}/blobs/{digest}"), 405, "UNSUPPORTED")
        assert client.get(f"/v2/{repo}/blobs/{digest}").status_code == 200

    assert client.delete(f"/v2/{repo}/manifests/{manifest_digest}").status_code == 202
    assert client.delete(f"/v2/{repo}/blobs/{layer_digest}").status_code == 202
    assert_error(client.get(f"/v2/{repo}/blobs/{layer_digest}"), 404, "BLOB_UNKNOWN")


def test_a_reference_in_another_repository_does_not_block_delete(
    client: httpx.Client, repo: str
) -> None:
    layer = b"shared layer " + repo.encode()
    push_image(client, f"{repo}/uses", "latest", layers=[layer])
    digest = push_blob(client, f"{repo}/plain", layer)
    assert client.delete(f"/v2/{repo}/plain/blobs/{digest}").status_code == 202
    assert client.get(f"/v2/{repo}/uses/blobs/{digest}").content == layer
