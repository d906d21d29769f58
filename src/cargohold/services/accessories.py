"""What is stored with an image besides the image: its accessories (the `.sig`, `.att`,
`.sbom` and referrers-index tags of cosign and the referrers tag schema) and its referrers,
and how many signatures they hold. Read from a ManifestGraph; nothing is verified here (the
CLI's `tags --key` verifies on the client; project trusted keys will verify on the server)."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.services.manifest_graph import ManifestGraph
from cargohold.trust.formats import COSIGN_SIGNATURE_ARTIFACT, SIGSTORE_BUNDLE_TYPES

_KIND_OF_SUFFIX = {".sig": "signature", ".att": "attestation", ".sbom": "sbom"}


@dataclass(frozen=True)
class Accessory:
    """A manifest stored with an image: `kind` is signature, attestation, sbom or
    referrers-index (by tag), or referrer (by `subject`)."""

    kind: str
    digest: str
    tag: str | None
    artifact_type: str | None = None


@dataclass(frozen=True)
class ImageTrust:
    """How many signatures are stored with an image, and what goes with it."""

    signatures: int
    accessories: tuple[Accessory, ...]

    @property
    def signed(self) -> bool:
        return self.signatures > 0


def image_trust(graph: ManifestGraph, digest: str) -> ImageTrust:
    """The accessories and referrers of an image of the graph. Signatures: one per layer of
    the `.sig` manifest (cosign appends a layer per signature), per layer of a cosign OCI 1.1
    signature referrer, and one per sigstore bundle referrer (a bundle may also hold an
    attestation: `cargohold verify` tells them apart)."""
    found: list[Accessory] = []
    count = 0
    for accessory in graph.accessories(digest):
        for tag in accessory.tags:
            suffix = tag[tag.rfind(".") :] if "." in tag else ""
            kind = _KIND_OF_SUFFIX.get(suffix, "referrers-index")
            found.append(Accessory(kind, accessory.digest, tag, accessory.artifact_type))
            if kind == "signature":
                count += sum(1 for k, _, _ in accessory.references if k == "layer")
    for dependent in sorted(graph.dependents.get(digest, ())):
        fact = graph.by_digest[dependent]
        if fact.subject_digest != digest:
            continue
        found.append(Accessory("referrer", fact.digest, None, fact.artifact_type))
        if fact.artifact_type == COSIGN_SIGNATURE_ARTIFACT:
            count += sum(1 for k, _, _ in fact.references if k == "layer")
        elif fact.artifact_type in SIGSTORE_BUNDLE_TYPES:
            count += 1
    return ImageTrust(count, tuple(found))
