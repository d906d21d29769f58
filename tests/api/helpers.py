"""Helpers for the blob and upload API tests: digests, pushes and error checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def error_codes(response: httpx.Response) -> list[str]:
    """The codes of a distribution-spec error body, checking its shape on the way."""
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("errors"), list), body
    assert body["errors"], body
    for error in body["errors"]:
        assert isinstance(error.get("code"), str), error
        assert isinstance(error.get("message"), str), error
    return [error["code"] for error in body["errors"]]


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert code in error_codes(response), response.text


def push_blob(client: httpx.Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Monolithic upload (`POST ?digest=`); returns the digest."""
    digest = digest_of(data, algorithm)
    response = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    return digest


def start_upload(client: httpx.Client, repo: str) -> str:
    """Open an upload session; returns its Location."""
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def upload_id(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def patch_chunk(
    client: httpx.Client, location: str, data: bytes, start: int | None = None
) -> httpx.Response:
    """PATCH one chunk; with `start`, a Content-Range `start-end` is sent."""
    headers = {"Content-Type": "application/octet-stream"}
    if start is not None:
        headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
    return client.patch(location, content=data, headers=headers)


def push_blob_chunked(
    client: httpx.Client,
    repo: str,
    data: bytes,
    chunk_size: int,
    algorithm: str = "sha256",
) -> str:
    """POST, PATCH chunks with Content-Range, then PUT ?digest=; returns the digest."""
    location = start_upload(client, repo)
    for start in range(0, len(data), chunk_size):
        response = patch_chunk(client, location, data[start : start + chunk_size], start)
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
    digest = digest_of(data, algorithm)
    response = client.put(location, params={"digest": digest})
    assert response.status_code == 201, response.text
    return digest


def image_manifest(config: bytes, layers: list[bytes]) -> dict[str, Any]:
    """An OCI image manifest document for the given config and layer bytes."""
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
            for layer in layers
        ],
    }


def put_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    document: dict[str, Any],
    media_type: str = OCI_MANIFEST,
) -> httpx.Response:
    return client.put(
        f"/v2/{repo}/manifests/{reference}",
        content=json.dumps(document).encode(),
        headers={"Content-Type": media_type},
    )


def push_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    document: dict[str, Any],
    media_type: str = OCI_MANIFEST,
) -> str:
    """PUT a manifest and return its digest."""
    response = put_manifest(client, repo, reference, document, media_type)
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]


def push_image(
    client: httpx.Client, repo: str, layers: list[bytes], tag: str = "latest"
) -> tuple[str, dict[str, Any]]:
    """Push config, layers and manifest; returns (manifest digest, manifest document)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "repo": repo}).encode()
    push_blob(client, repo, config)
    for layer in layers:
        push_blob(client, repo, layer)
    document = image_manifest(config, layers)
    return push_manifest(client, repo, tag, document), document


def stored_blob_paths(data_dir: Path, digest: str) -> list[Path]:
    """Every file under the filesystem store's blob tree named after `digest`."""
    hexpart = digest.split(":", 1)[1]
    return sorted(p for p in (data_dir / "blobs" / "blobs").rglob(hexpart) if p.is_file())


def staged_upload_path(data_dir: Path, upload: str) -> Path:
    return data_dir / "blobs" / "uploads" / upload
