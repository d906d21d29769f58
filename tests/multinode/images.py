"""Images as a registry client pushes and pulls them over plain HTTP (httpx), checked byte for
byte: every blob a pulled manifest names must come back with the digest it is named by."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from tests.support.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    encode,
    manifest_document,
    sha256,
)

# How often a client tries a push (or a pull) before giving up: a few tries ride out a node
# that died under it, nginx sending the next request to the other node.
ATTEMPTS = 8
RETRY_PAUSE_SECONDS = 0.5
PIECE = 64 * 1024


class RegistryFailure(Exception):
    """A request a client needed was not answered as the protocol says it must be."""


@dataclass(frozen=True)
class Image:
    config: bytes
    layers: tuple[bytes, ...]

    @property
    def manifest(self) -> bytes:
        return encode(manifest_document(self.config, list(self.layers)))

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> list[bytes]:
        return [self.config, *self.layers]


def random_image(label: str, layers: int = 2, layer_size: int = 64 * 1024) -> Image:
    """An image of random layers (nothing else has them) and a config naming `label`."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "label": label}).encode()
    return Image(config, tuple(os.urandom(layer_size) for _ in range(layers)))


def _expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise RegistryFailure(
            f"{response.request.method} {response.request.url.path}: {response.status_code}"
            f" {response.text[:300]}"
        )
    return response


def _paced(blob: bytes, pause: float) -> Iterator[bytes]:
    """The blob in 64 KiB pieces, `pause` seconds apart: a client on a slow link."""
    for start in range(0, len(blob), PIECE):
        if start:
            time.sleep(pause)
        yield blob[start : start + PIECE]


def push(client: httpx.Client, repository: str, tag: str, image: Image, pause: float = 0.0) -> None:
    """What docker does: HEAD each blob, upload the missing ones whole, then the manifest.
    With `pause`, each blob's body is sent in pieces that far apart (chunked encoding)."""
    for blob in image.blobs:
        digest = sha256(blob)
        if client.head(f"/v2/{repository}/blobs/{digest}").status_code == 200:
            continue
        body = _paced(blob, pause) if pause else blob
        _expect(
            client.post(
                f"/v2/{repository}/blobs/uploads/", params={"digest": digest}, content=body
            ),
            201,
        )
    _expect(
        client.put(
            f"/v2/{repository}/manifests/{tag}",
            content=image.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        ),
        201,
    )


ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def pull(client: httpx.Client, repository: str, reference: str) -> Image:
    """The image `reference` names, each byte checked against its digest."""
    response = _expect(
        client.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT}),
        200,
    )
    digest = sha256(response.content)
    if response.headers.get("docker-content-digest") != digest:
        raise RegistryFailure(f"{repository}:{reference}: manifest digest header is wrong")
    if reference.startswith("sha256:") and reference != digest:
        raise RegistryFailure(f"{repository}@{reference}: another manifest came back")
    document = json.loads(response.content)
    if "manifests" in document:
        raise RegistryFailure(f"{repository}:{reference} is an index, not an image")
    blobs = []
    for descriptor in [document["config"], *document["layers"]]:
        blob = _expect(client.get(f"/v2/{repository}/blobs/{descriptor['digest']}"), 200).content
        if sha256(blob) != descriptor["digest"] or len(blob) != descriptor["size"]:
            raise RegistryFailure(f"{repository}: blob {descriptor['digest']} came back wrong")
        blobs.append(blob)
    return Image(blobs[0], tuple(blobs[1:]))


def pull_everything(client: httpx.Client, repository: str, reference: str) -> int:
    """Pull what `reference` names, an image or an index with every image it lists, each
    byte checked; how many images that was."""
    response = _expect(
        client.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT}),
        200,
    )
    document = json.loads(response.content)
    if "manifests" not in document:
        pull(client, repository, reference)
        return 1
    if sha256(response.content) != response.headers.get("docker-content-digest"):
        raise RegistryFailure(f"{repository}:{reference}: index digest header is wrong")
    return sum(
        pull_everything(client, repository, child["digest"]) for child in document["manifests"]
    )


def with_retries(action: Callable[[], None], attempts: int = ATTEMPTS) -> int:
    """Run `action` until it succeeds, as a client that retries does; how many tries it took.
    A failure it cannot ride out (after `attempts`) is raised."""
    for attempt in range(1, attempts + 1):
        try:
            action()
            return attempt
        except (httpx.HTTPError, RegistryFailure):
            if attempt == attempts:
                raise
            time.sleep(RETRY_PAUSE_SECONDS)
    raise AssertionError("unreachable")
