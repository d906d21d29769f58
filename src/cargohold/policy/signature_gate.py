"""What signature enforcement decides: the verdicts an image can have, which of them may be
pulled from a project that enforces, what an accessory is, and the refusal's message.

Pure functions over facts the services gather (the manifest, the verification).
"""

from __future__ import annotations

from enum import StrEnum

from cargohold.oci.accessories import accessory_subject
from cargohold.oci.manifests import Manifest
from cargohold.oci.mediatypes import OCI_EMPTY
from cargohold.trust.formats import (
    COSIGN_SIGNATURE_ARTIFACT,
    SIGSTORE_BUNDLE_TYPES,
    SIMPLE_SIGNING,
)


class Verdict(StrEnum):
    # A signature by one of the project's trusted keys binds this very digest.
    SIGNED = "signed"
    # An index of the repository that lists this manifest is signed (`cosign sign` signs an
    # index only, unless --recursive): its platform manifests pass with it.
    INDEX_SIGNED = "index-signed"
    # A signature, attestation, SBOM or referrers index, by its content: never refused.
    ACCESSORY = "accessory"
    # No signature at all.
    UNSIGNED = "unsigned"
    # Signatures, but none valid by a trusted key (another key, tampered, keyless...).
    UNTRUSTED = "untrusted"


PASSING: tuple[str, ...] = (Verdict.SIGNED, Verdict.INDEX_SIGNED, Verdict.ACCESSORY)

# The layer media types of documents about an image, as cosign, Notation, oras users, syft
# and BuildKit store them. None is a filesystem: containerd and dockerd refuse to unpack a
# layer of any of these types, so a manifest whose every layer is one of them cannot run.
SIGNATURE_LAYERS = frozenset(
    {
        SIMPLE_SIGNING,  # cosign's `.sig` tag and OCI 1.1 signatures
        *SIGSTORE_BUNDLE_TYPES,  # cosign v3's signatures and attestations
        "application/jose+json",  # Notation, JWS envelope
        "application/cose",  # Notation, COSE envelope
    }
)
ATTESTATION_LAYERS = frozenset(
    {
        "application/vnd.dsse.envelope.v1+json",  # cosign's `.att` tag
        "application/vnd.in-toto+json",  # BuildKit's attestation manifests
    }
)
SBOM_LAYERS = frozenset(
    {
        # cosign attach sbom (pkg/types), and the registered types oras users push.
        "text/spdx",
        "text/spdx+json",
        "text/spdx+xml",
        "application/spdx+json",
        "application/vnd.cyclonedx",
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx+xml",
        "application/vnd.syft+json",
    }
)
# The empty descriptor: what an artifact without a file carries as its one layer.
ACCESSORY_LAYERS = SIGNATURE_LAYERS | ATTESTATION_LAYERS | SBOM_LAYERS | {OCI_EMPTY}


def passes(verdict: str) -> bool:
    return verdict in PASSING


def is_accessory(manifest: Manifest) -> bool:
    """Whether a manifest is a signature, an attestation, an SBOM or a referrers index by
    what it carries (decision 043), so a project that enforces signatures serves it unsigned.

    - an image manifest: at least one layer, and every layer one of ACCESSORY_LAYERS. Its
      config and `artifactType` do not count (a runtime ignores `artifactType`, and cosign's
      `.sig` manifests have an ordinary image config);
    - an index: every entry names its `artifactType`, as the referrers tag schema's index
      must. Passing it lets nothing run: each manifest it lists is judged by itself.

    Its shape (a `subject`, a `sha256-<hex>.sig` tag) says which image it belongs to, never
    that it may pass: a runnable image with a `subject` or an accessory tag is an image.
    """
    if manifest.is_index:
        return all(child.artifact_type for child in manifest.children)
    return bool(manifest.layers) and all(
        layer.media_type in ACCESSORY_LAYERS for layer in manifest.layers
    )


def is_signature(manifest: Manifest, tag: str | None) -> str | None:
    """The digest of the image a pushed signature is about, or None when it is none: a
    `sha256-<hex>.sig` tag, or a referrer with cosign's signature (or a sigstore bundle)
    artifact type."""
    if tag is not None and tag.endswith(".sig"):
        return accessory_subject(tag)
    kind = manifest.referrer_artifact_type
    if manifest.subject is not None and (
        kind == COSIGN_SIGNATURE_ARTIFACT or kind in SIGSTORE_BUNDLE_TYPES
    ):
        return manifest.subject.digest
    return None


def refusal(project: str, digest: str, verdict: str, fingerprints: list[str]) -> str:
    """The DENIED message of a refused pull: what was wrong and which keys were expected."""
    if verdict == Verdict.UNTRUSTED:
        what = f"image {digest} has no valid signature by a trusted key of project {project}"
    else:
        what = f"image {digest} is not signed; project {project} requires signed images"
    if not fingerprints:
        return f"{what}, and trusts no key yet (add one: cargohold trust keys add)"
    return f"{what}; expected a signature by one of: {', '.join(fingerprints)}"
