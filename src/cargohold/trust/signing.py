"""Signatures as cosign stores them: a simple-signing layer, and the manifest that carries it.

- `.sig` tag (the default, what cosign v2's verify and containers/image read): one OCI image
  manifest per image at `sha256-<hex>.sig`, one layer per signature; a new signature is
  appended to the manifest that is there (cosign's "racy" append);
- OCI 1.1 referrer (on request): a manifest of its own with artifactType
  `application/vnd.dev.cosign.artifact.sig.v1+json`, the empty config, the signature layer and
  `subject` = the image; registries without the referrers API also get the referrers tag
  schema's index (`sha256-<hex>`) updated.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.oci.digests import EMPTY_JSON, EMPTY_JSON_DIGEST, compute
from cargohold.oci.mediatypes import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from cargohold.trust.formats import (
    COSIGN_SIGNATURE_ARTIFACT,
    OCI_IMAGE_CONFIG,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
)
from cargohold.trust.keys import sign

CREATED_ANNOTATION = "org.opencontainers.image.created"


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return compute(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}


@dataclass(frozen=True)
class SignatureLayer:
    """A payload and the base64 signature over its bytes."""

    payload: bytes
    signature: str

    @property
    def blob(self) -> Blob:
        return Blob(SIMPLE_SIGNING, self.payload)

    def descriptor(self) -> dict[str, Any]:
        return {**self.blob.descriptor(), "annotations": {SIGNATURE_ANNOTATION: self.signature}}


def sign_payload(key: ec.EllipticCurvePrivateKey, payload: bytes) -> SignatureLayer:
    return SignatureLayer(payload, base64.b64encode(sign(key, payload)).decode())


@dataclass(frozen=True)
class ManifestToPush:
    """A manifest and the blobs to upload before it (config and payloads)."""

    media_type: str
    content: bytes
    blobs: list[Blob] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return compute(self.content)


def _signature_config(layers: list[dict[str, Any]]) -> bytes:
    """The image config cosign gives a signature manifest: empty, its rootfs the payloads."""
    epoch = "0001-01-01T00:00:00Z"
    return _json(
        {
            "architecture": "",
            "created": epoch,
            "history": [{"created": epoch}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
            "config": {},
        }
    )


def _same_signature(a: dict[str, Any], b: dict[str, Any]) -> bool:
    annotations_a, annotations_b = a.get("annotations") or {}, b.get("annotations") or {}
    return a.get("digest") == b.get("digest") and annotations_a.get(
        SIGNATURE_ANNOTATION
    ) == annotations_b.get(SIGNATURE_ANNOTATION)


def signature_tag_manifest(
    layer: SignatureLayer, existing: dict[str, Any] | None
) -> ManifestToPush | None:
    """The `.sig` manifest with `layer` appended to the `existing` one (None: a new one); None
    when `existing` already holds this very signature."""
    layers = [
        dict(previous)
        for previous in (existing or {}).get("layers") or []
        if isinstance(previous, dict) and previous.get("mediaType") == SIMPLE_SIGNING
    ]
    new = layer.descriptor()
    if any(_same_signature(previous, new) for previous in layers):
        return None
    layers.append(new)
    config = Blob(OCI_IMAGE_CONFIG, _signature_config(layers))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": layers,
    }
    return ManifestToPush(OCI_MANIFEST, _json(manifest), [layer.blob, config])


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def referrer_manifest(
    layer: SignatureLayer, subject: dict[str, Any], created: str | None = None
) -> ManifestToPush:
    """The OCI 1.1 referrer carrying `layer` for the image `subject` (its descriptor)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": COSIGN_SIGNATURE_ARTIFACT,
        "config": {"mediaType": OCI_EMPTY, "size": len(EMPTY_JSON), "digest": EMPTY_JSON_DIGEST},
        "layers": [layer.descriptor()],
        "subject": subject,
        "annotations": {CREATED_ANNOTATION: created or _now()},
    }
    return ManifestToPush(OCI_MANIFEST, _json(manifest), [layer.blob, Blob(OCI_EMPTY, EMPTY_JSON)])


def referrers_tag_index(
    referrer: ManifestToPush, existing: dict[str, Any] | None
) -> ManifestToPush | None:
    """The referrers tag schema's index with `referrer` added (None: it is listed already)."""
    document = json.loads(referrer.content)
    entries = [
        dict(entry)
        for entry in (existing or {}).get("manifests") or []
        if isinstance(entry, dict) and entry.get("digest") != referrer.digest
    ]
    if len(entries) < len((existing or {}).get("manifests") or []):
        return None
    entry: dict[str, Any] = {
        "mediaType": referrer.media_type,
        "size": len(referrer.content),
        "digest": referrer.digest,
        "artifactType": document["artifactType"],
    }
    if document.get("annotations"):
        entry["annotations"] = document["annotations"]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*entries, entry]}
    return ManifestToPush(OCI_INDEX, _json(index))
