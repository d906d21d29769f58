"""Small OCI building blocks for API tests: blobs, configs and manifests over HTTP."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def sha256(data: bytes) -> str:
    return digest_of(data)


def push_blob(client: httpx.Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Monolithic upload (`POST ?digest=`); returns the digest."""
    digest = digest_of(data, algorithm)
    response = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    return digest


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def manifest_document(
    config: bytes, layers: list[bytes], media_type: str = OCI_MANIFEST, **fields: Any
) -> dict[str, Any]:
    """An image manifest document for the given config and layer bytes (nothing is pushed)."""
    docker = media_type == DOCKER_MANIFEST
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
        "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, layer) for layer in layers],
        **fields,
    }


def image_manifest(
    client: httpx.Client,
    repo: str,
    layers: list[bytes] | None = None,
    config: bytes | None = None,
    media_type: str = OCI_MANIFEST,
    **fields: Any,
) -> dict[str, Any]:
    """Push the config and layers, and return an image manifest document referencing them."""
    config = config if config is not None else json.dumps({"architecture": "amd64"}).encode()
    layers = layers if layers is not None else [b"layer-" + repo.encode()]
    push_blob(client, repo, config)
    for layer in layers:
        push_blob(client, repo, layer)
    return manifest_document(config, layers, media_type, **fields)


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def put_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    document: dict[str, Any] | bytes,
    content_type: str | None = None,
) -> httpx.Response:
    body = document if isinstance(document, bytes) else encode(document)
    if content_type is None and isinstance(document, dict):
        content_type = document.get("mediaType", OCI_MANIFEST)
    headers = {"Content-Type": content_type} if content_type else {}
    return client.put(f"/v2/{repo}/manifests/{reference}", content=body, headers=headers)


def push_image(client: httpx.Client, repo: str, tag: str, **kwargs: Any) -> tuple[str, bytes]:
    """Push a whole small image under `tag`; returns (manifest digest, manifest bytes)."""
    body = encode(image_manifest(client, repo, **kwargs))
    response = put_manifest(client, repo, tag, body, kwargs.get("media_type", OCI_MANIFEST))
    assert response.status_code == 201, response.text
    return sha256(body), body


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])
