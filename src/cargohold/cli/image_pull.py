"""Read an image from any registry, as `skopeo copy docker://...` or Trivy does, into a
temporary OCI layout that the local scanner then reads.

- References: `docker://HOST/REPO[:TAG|@DIGEST]` and plain ones (`ghcr.io/org/app:1`,
  `localhost:5000/team/app@sha256:...`, `debian:12` on Docker Hub, which is `docker.io` and
  its `library/` namespace). Loopback hosts are spoken to in plain HTTP, the others in HTTPS.
- The registry is read with the CLI's one OCI client (registry_client.py, signing in with
  registry_auth.py's token flow and credential chain, Docker Hub under each of its names).
- Every failure is a RegistryError with one line for the user; digests are checked as blobs
  arrive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cargohold.cli.references import ReferenceError, parse_registry_reference
from cargohold.cli.registry_auth import (
    DOCKER_HUB,
    RegistryError,
    api_base,
    is_docker_hub,
)
from cargohold.oci import mediatypes
from cargohold.oci.digests import is_valid_digest

if TYPE_CHECKING:
    from cargohold.cli.registry_client import RegistryClient


@dataclass(frozen=True)
class RemoteImage:
    host: str  # as named (`docker.io` for Docker Hub)
    repository: str
    reference: str  # a tag or a digest

    @property
    def base(self) -> str:
        return api_base(self.host)

    def __str__(self) -> str:
        sep = "@" if is_valid_digest(self.reference) else ":"
        return f"{self.host}/{self.repository}{sep}{self.reference}"


def parse_remote(text: str) -> RemoteImage:
    """`[docker://]HOST/REPO[:TAG|@DIGEST]`; no HOST is Docker Hub (`library/` for one
    component), as docker reads names (cli/references.py parses)."""
    bare = text.removeprefix("docker://").removeprefix("//")
    try:
        parsed = parse_registry_reference(bare)
    except ReferenceError as exc:
        raise RegistryError(str(exc).replace(bare, text, 1)) from None
    host, repository = parsed.host or DOCKER_HUB, parsed.repository
    if is_docker_hub(host):
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return RemoteImage(host, repository, parsed.reference)


class LayoutCopy:
    """Copies one image (every platform of an index) into an OCI layout directory."""

    def __init__(self, image: RemoteImage, layout: Path) -> None:
        self.image = image
        self.layout = layout
        self.blobs = layout / "blobs" / "sha256"

    def run(self, timeout: float = 60.0) -> None:
        """Write the image into the layout; its index names it `scan`."""
        from cargohold.cli.registry_client import RegistryClient

        self.blobs.mkdir(parents=True, exist_ok=True)
        (self.layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        with RegistryClient(self.image.base, self.image.repository, timeout=timeout) as client:
            media_type, digest, size = self._manifest(client, self.image.reference)
        descriptor = {
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": "scan"},
        }
        (self.layout / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "manifests": [descriptor]})
        )

    def _manifest(
        self, client: RegistryClient, reference: str, depth: int = 0
    ) -> tuple[str, str, int]:
        fetched = client.resolve(reference)
        document = fetched.document
        if document.get("schemaVersion") == 1:
            raise RegistryError(f"{self.image}: Docker schema 1 manifests are not supported")
        if not fetched.digest.startswith("sha256:"):
            raise RegistryError(f"{self.image}: unsupported manifest digest {fetched.digest}")
        (self.blobs / fetched.digest.split(":", 1)[1]).write_bytes(fetched.content)
        media_type = fetched.media_type
        if media_type in mediatypes.INDEXES or "manifests" in document:
            if depth > 2:
                raise RegistryError(f"{self.image}: indexes nested too deeply")
            for child in document.get("manifests") or []:
                if isinstance(child, dict) and not _attestation(child) and child.get("digest"):
                    self._manifest(client, str(child["digest"]), depth + 1)
            return media_type or mediatypes.OCI_INDEX, fetched.digest, fetched.size
        for blob in [document.get("config") or {}, *(document.get("layers") or [])]:
            if isinstance(blob, dict) and isinstance(blob.get("digest"), str):
                self._blob(client, blob["digest"])
        return media_type or mediatypes.OCI_MANIFEST, fetched.digest, fetched.size

    def _blob(self, client: RegistryClient, digest: str) -> None:
        if not is_valid_digest(digest) or not digest.startswith("sha256:"):
            raise RegistryError(f"{self.image}: unsupported blob digest {digest!r}")
        target = self.blobs / digest.split(":", 1)[1]
        if not target.exists():
            client.download_blob(digest, target)


def _attestation(descriptor: dict[str, Any]) -> bool:
    annotations = descriptor.get("annotations") or {}
    platform = descriptor.get("platform") or {}
    return (
        annotations.get("vnd.docker.reference.type") == "attestation-manifest"
        or platform.get("os") == "unknown"
    )


def pull_into(image: RemoteImage, layout: Path) -> None:
    """Copy `image` into the OCI layout directory `layout`; RegistryError on any failure."""
    LayoutCopy(image, layout).run()
