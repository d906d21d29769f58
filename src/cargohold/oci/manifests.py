"""Parsing pushed manifests into the facts the registry keeps about them.

The bytes are never rewritten: parsing only extracts the media type, the
descriptors the manifest references (config, layers, index children), the
`subject` and the `artifactType`, and refuses what the spec says to refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from cargohold.errors import ManifestInvalid
from cargohold.oci import mediatypes as mt
from cargohold.oci.digests import is_valid_digest
from cargohold.parsing.integers import INT64_MAX
from cargohold.parsing.json_document import JsonInvalid, load_json

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


# RFC 6838 section 4.2: type "/" subtype, each a restricted name of at most 127 characters.
_MEDIA_TYPE_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)
MAX_MEDIA_TYPE = 255  # the media type columns


def _media_type(value: Any, where: str) -> str | None:
    """An optional media type the registry stores: absent, or RFC 6838 `type/subtype`."""
    if value is None:
        return None
    if not isinstance(value, str) or _MEDIA_TYPE_RE.fullmatch(value) is None:
        raise ManifestInvalid(f"{where}: must be a media type such as application/vnd.example+json")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_map(value: Any, where: str) -> dict[str, str] | None:
    """`annotations`: absent, or an object whose values are all strings."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestInvalid(f"{where}: must map strings to strings")
    return value


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where}: a descriptor must be a JSON object")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType: missing or not a string")
    if len(media_type) > MAX_MEDIA_TYPE:
        # A config's media type is stored as its manifest's artifact type.
        raise ManifestInvalid(f"{where}.mediaType: longer than {MAX_MEDIA_TYPE} characters")
    if not isinstance(digest, str) or not is_valid_digest(digest):
        raise ManifestInvalid(f"{where}.digest: invalid or unsupported digest {digest!r}")
    # Sizes are summed into reports and stored in BIGINT columns: 0..2^63-1.
    if not _is_int(size) or not 0 <= size <= INT64_MAX:
        raise ManifestInvalid(f"{where}.size: must be an integer from 0 to {INT64_MAX}")
    urls = value.get("urls")
    if urls is None:
        urls = []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}.urls: must be a list of strings")
    artifact_type = _media_type(value.get("artifactType"), f"{where}.artifactType")
    _string_map(value.get("annotations"), f"{where}.annotations")
    if value.get("platform") is not None and not isinstance(value["platform"], dict):
        raise ManifestInvalid(f"{where}.platform: must be a JSON object")
    if value.get("data") is not None and not isinstance(value["data"], str):
        raise ManifestInvalid(f"{where}.data: must be a base64 string")
    return Descriptor(media_type, digest, size, tuple(urls), artifact_type)


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
        doc = load_json(body)
    except JsonInvalid as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")

    schema_version = doc.get("schemaVersion")
    # `2.0 == 2` in Python; the image spec's schemaVersion is the integer 2.
    if schema_version is not None and not _is_int(schema_version):
        raise ManifestInvalid("schemaVersion: must be an integer")
    if schema_version == 1:
        raise ManifestInvalid(
            "Docker schema1 manifests are not supported: push Docker schema2 or OCI manifests"
        )
    body_type = _media_type(doc.get("mediaType"), "mediaType")
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
    _media_type(media_type, "Content-Type")

    known = media_type in mt.IMAGE_MANIFESTS or media_type in mt.INDEXES
    if known and schema_version != 2:
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
    manifest.artifact_type = _media_type(doc.get("artifactType"), "artifactType")
    manifest.annotations = _string_map(doc.get("annotations"), "annotations")
    return manifest
