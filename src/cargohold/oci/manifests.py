"""Parsing pushed manifests into the facts the registry keeps about them.

The bytes are never rewritten: parsing only extracts the media type, the
descriptors the manifest references (config, layers, index children), the
`subject` and the `artifactType`, and refuses what the spec says to refuse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from cargohold.errors import ManifestInvalid
from cargohold.oci import mediatypes as mt
from cargohold.oci.digests import is_valid_digest

MAX_MANIFEST_BYTES = 4 * 1024 * 1024

RefKind = Literal["config", "layer", "manifest"]


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None

    @property
    def is_foreign(self) -> bool:
        """Foreign layers live elsewhere (their `urls`); the registry need not hold them."""
        return bool(self.urls) and (
            self.media_type == mt.DOCKER_FOREIGN_LAYER or self.media_type in mt.OCI_FOREIGN_LAYERS
        )


@dataclass
class Manifest:
    media_type: str
    is_index: bool
    config: Descriptor | None = None
    layers: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None

    def references(self) -> list[tuple[RefKind, Descriptor]]:
        refs: list[tuple[RefKind, Descriptor]] = []
        if self.config is not None:
            refs.append(("config", self.config))
        refs.extend(("layer", d) for d in self.layers)
        refs.extend(("manifest", d) for d in self.children)
        return refs

    @property
    def referrer_artifact_type(self) -> str | None:
        """What the referrers API reports: artifactType, else the config's media type."""
        if self.artifact_type:
            return self.artifact_type
        if self.config is not None and not self.is_index:
            return self.config.media_type
        return None


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where}: a descriptor must be a JSON object")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType: missing or not a string")
    if not isinstance(digest, str) or not is_valid_digest(digest):
        raise ManifestInvalid(f"{where}.digest: invalid or unsupported digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size: must be a non-negative integer")
    urls = value.get("urls") or ()
    if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}.urls: must be a list of strings")
    artifact_type = value.get("artifactType")
    return Descriptor(
        media_type,
        digest,
        size,
        tuple(urls),
        artifact_type if isinstance(artifact_type, str) else None,
    )


def _descriptor_list(doc: dict[str, Any], key: str) -> list[Descriptor]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestInvalid(f"{key}: must be a list of descriptors")
    return [_descriptor(item, f"{key}[{i}]") for i, item in enumerate(value)]


def _base_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_manifest(body: bytes, content_type: str | None) -> Manifest:
    """Validate a pushed manifest and extract its references."""
    header_type = _base_type(content_type)
    if header_type in mt.SCHEMA1:
        raise ManifestInvalid(
            "Docker schema1 manifests are not supported: push Docker schema2 or OCI manifests"
        )
    if header_type == mt.OCI_ARTIFACT_MANIFEST:
        raise ManifestInvalid(
            f"{mt.OCI_ARTIFACT_MANIFEST} was withdrawn from the OCI image spec: push an image "
            "manifest with an artifactType instead"
        )
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")

    if doc.get("schemaVersion") == 1:
        raise ManifestInvalid(
            "Docker schema1 manifests are not supported: push Docker schema2 or OCI manifests"
        )
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise ManifestInvalid("mediaType: must be a string")
    if body_type == mt.OCI_ARTIFACT_MANIFEST:
        raise ManifestInvalid(
            f"{mt.OCI_ARTIFACT_MANIFEST} was withdrawn from the OCI image spec: push an image "
            "manifest with an artifactType instead"
        )
    if header_type in mt.GENERIC_CONTENT_TYPES:
        header_type = ""
    if body_type and header_type and body_type != header_type:
        raise ManifestInvalid(
            f"mediaType {body_type!r} in the manifest contradicts Content-Type {header_type!r}"
        )
    media_type = (
        header_type or body_type or (mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST)
    )

    known = media_type in mt.IMAGE_MANIFESTS or media_type in mt.INDEXES
    if known and doc.get("schemaVersion") != 2:
        raise ManifestInvalid(f"schemaVersion must be 2 for {media_type}")

    is_index = media_type in mt.INDEXES or (not known and isinstance(doc.get("manifests"), list))
    manifest = Manifest(media_type=media_type, is_index=is_index)
    if is_index:
        if media_type in mt.INDEXES and not isinstance(doc.get("manifests"), list):
            raise ManifestInvalid("manifests: an index must list its manifests")
        manifest.children = _descriptor_list(doc, "manifests")
    else:
        config = doc.get("config")
        if config is None and media_type in mt.IMAGE_MANIFESTS:
            raise ManifestInvalid("config: an image manifest must have a config descriptor")
        if config is not None:
            manifest.config = _descriptor(config, "config")
        if media_type in mt.IMAGE_MANIFESTS and not isinstance(doc.get("layers", []), list):
            raise ManifestInvalid("layers: must be a list of descriptors")
        manifest.layers = _descriptor_list(doc, "layers")

    if doc.get("subject") is not None:
        manifest.subject = _descriptor(doc["subject"], "subject")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType: must be a string")
    manifest.artifact_type = artifact_type
    annotations = doc.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise ManifestInvalid("annotations: must map strings to strings")
        manifest.annotations = annotations
    return manifest
