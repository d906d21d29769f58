"""The trust engine's `SignatureSource` over the registry's own store: one repository's
manifests, blobs and referrers, read from the metadata store and the blob driver (no HTTP)."""

from __future__ import annotations

import json
from typing import Any

from cargohold.meta.store import MetadataStore
from cargohold.oci.digests import is_valid_digest
from cargohold.storage.base import BlobDriver
from cargohold.trust.discovery import FetchedManifest
from cargohold.trust.verification import MAX_BUNDLE_BYTES


class StoreSignatureSource:
    def __init__(self, meta: MetadataStore, blobs: BlobDriver, repository: str) -> None:
        self.meta = meta
        self.blobs = blobs
        self.repository = repository

    def manifest(self, reference: str) -> FetchedManifest | None:
        by_digest = ":" in reference
        if by_digest and not is_valid_digest(reference):
            return None
        stored = self.meta.manifests.find(self.repository, reference, by_digest)
        if stored is None:
            return None
        try:
            document = json.loads(stored.content)
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        return FetchedManifest(stored.digest, stored.media_type, document, len(stored.content))

    def blob(self, digest: str) -> bytes:
        """The blob's bytes, if the repository links it (empty otherwise, which no digest
        check passes); at most one byte more than the verifier accepts."""
        if not is_valid_digest(digest):
            return b""
        if self.meta.blobs.linked_size(self.repository, digest) is None:
            return b""
        try:
            return b"".join(self.blobs.get(digest, 0, MAX_BUNDLE_BYTES + 1))
        except FileNotFoundError:
            return b""

    def referrers(self, digest: str) -> list[dict[str, Any]] | None:
        descriptors: list[dict[str, Any]] = []
        for ref_digest, media_type, size, artifact_type, _ in self.meta.manifests.referrers(
            self.repository, digest
        ):
            descriptor: dict[str, Any] = {"mediaType": media_type, "digest": ref_digest}
            descriptor["size"] = size
            if artifact_type:
                descriptor["artifactType"] = artifact_type
            descriptors.append(descriptor)
        return descriptors
