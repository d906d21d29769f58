"""Every signature cosign can leave for an image, found through a `SignatureSource`.

Where to look, in this order (the order the report lists them in):
1. the `sha256-<hex>.sig` tag: simple-signing layers (cosign v2's default; what
   containers/image reads);
2. the referrers of the image: through the referrers API, or, when the registry has none
   (404), through the referrers tag schema's index at `sha256-<hex>`. Among them, cosign's
   OCI 1.1 signatures (artifactType `application/vnd.dev.cosign.artifact.sig.v1+json`:
   simple-signing layers) and sigstore bundles (cosign v3's default; one bundle layer).
Other referrers (SBOMs, attestations of other kinds) are not signatures and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from cargohold.trust.formats import (
    COSIGN_SIGNATURE_ARTIFACT,
    SIGSTORE_BUNDLE_TYPES,
    SIMPLE_SIGNING,
    referrers_tag,
    signature_tag,
)

# A signature manifest has a handful of layers; a registry answer listing more is cut here.
MAX_LAYERS = 256
MAX_REFERRERS = 1000


class SourceError(Exception):
    """The registry could not be read; the message says what failed."""


@dataclass(frozen=True)
class FetchedManifest:
    digest: str
    media_type: str
    document: dict[str, Any]
    size: int = 0
    # The bytes as the registry sent them (its digest is `digest`), for a caller that writes
    # the very same manifest again (`cargohold tag --push`); empty where a source keeps none.
    content: bytes = field(default=b"", repr=False)


class SignatureSource(Protocol):
    """What discovery and verification read: a repository of a registry."""

    def manifest(self, reference: str) -> FetchedManifest | None:
        """The manifest a tag or digest names; None when there is none."""
        ...

    def blob(self, digest: str) -> bytes:
        """A blob's bytes (not checked against the digest: the verifier does that)."""
        ...

    def referrers(self, digest: str) -> list[dict[str, Any]] | None:
        """The descriptors the referrers API lists for `digest`; None without the API."""
        ...


class Shape(StrEnum):
    SIGNATURE_TAG = "sig-tag"
    REFERRERS_API = "referrer"
    REFERRERS_TAG = "referrers-tag"

    @property
    def label(self) -> str:
        return {
            "sig-tag": ".sig tag",
            "referrer": "OCI referrer",
            "referrers-tag": "referrers tag schema",
        }[self.value]


class Kind(StrEnum):
    SIMPLE_SIGNING = "simple-signing"
    BUNDLE = "sigstore-bundle"


@dataclass(frozen=True)
class Candidate:
    """One signature to check: a layer of a signature manifest."""

    shape: Shape
    manifest_digest: str
    # Where it was found, for the report: the `.sig` tag or the referrer's digest.
    location: str
    layer_index: int
    kind: Kind
    layer: dict[str, Any]


@dataclass
class Discovery:
    subject: str
    candidates: list[Candidate] = field(default_factory=list)
    # What was looked at and what was there, for the report (`.sig tag: not found`, ...).
    looked_at: list[str] = field(default_factory=list)


def _layers(document: dict[str, Any]) -> list[dict[str, Any]]:
    layers = document.get("layers")
    if not isinstance(layers, list):
        return []
    return [layer for layer in layers[:MAX_LAYERS] if isinstance(layer, dict)]


def _kind(media_type: object) -> Kind | None:
    if media_type == SIMPLE_SIGNING:
        return Kind.SIMPLE_SIGNING
    if media_type in SIGSTORE_BUNDLE_TYPES:
        return Kind.BUNDLE
    return None


def _artifact_type(descriptor: dict[str, Any]) -> object:
    return descriptor.get("artifactType")


def is_signature_referrer(descriptor: dict[str, Any]) -> bool:
    """A referrer that holds signatures: cosign's OCI 1.1 signature, or a sigstore bundle."""
    kind = _artifact_type(descriptor)
    return kind == COSIGN_SIGNATURE_ARTIFACT or kind in SIGSTORE_BUNDLE_TYPES


def _candidates(shape: Shape, manifest: FetchedManifest, location: str) -> list[Candidate]:
    return [
        Candidate(shape, manifest.digest, location, index, kind, layer)
        for index, layer in enumerate(_layers(manifest.document), start=1)
        if (kind := _kind(layer.get("mediaType"))) is not None
    ]


def discover(source: SignatureSource, subject: str) -> Discovery:
    """Every candidate signature of the image `subject` (a digest) in the source's repository.
    Raises SourceError when the registry cannot be read."""
    found = Discovery(subject)
    tag = signature_tag(subject)
    manifest = source.manifest(tag)
    if manifest is None:
        found.looked_at.append(f"{Shape.SIGNATURE_TAG.label} {tag}: none")
    else:
        candidates = _candidates(Shape.SIGNATURE_TAG, manifest, tag)
        found.looked_at.append(f"{Shape.SIGNATURE_TAG.label} {tag}: {len(candidates)} layer(s)")
        found.candidates.extend(candidates)
    descriptors = source.referrers(subject)
    shape = Shape.REFERRERS_API
    if descriptors is None:
        shape = Shape.REFERRERS_TAG
        index = source.manifest(referrers_tag(subject))
        manifests = (index.document.get("manifests") if index else None) or []
        descriptors = [d for d in manifests if isinstance(d, dict)] if index else []
        found.looked_at.append(
            f"referrers API: not supported; {shape.label} {referrers_tag(subject)}: "
            + (f"{len(descriptors)} referrer(s)" if index else "none")
        )
    else:
        found.looked_at.append(f"referrers API: {len(descriptors)} referrer(s)")
    for descriptor in descriptors[:MAX_REFERRERS]:
        digest = descriptor.get("digest")
        if not is_signature_referrer(descriptor) or not isinstance(digest, str):
            continue
        referrer = source.manifest(digest)
        if referrer is not None:
            found.candidates.extend(_candidates(shape, referrer, digest))
    return found
