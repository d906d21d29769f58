"""What signature enforcement decides: the verdicts an image can have, which of them may be
pulled from a project that enforces, what an accessory is, and the refusal's message.

Pure functions over facts the services gather (the manifest, its tags, the verification).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import StrEnum

from cargohold.oci.accessories import accessory_subject, subjects_of
from cargohold.oci.manifests import Manifest
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
    # A signature, attestation, SBOM, referrers index or referrer: never refused.
    ACCESSORY = "accessory"
    # No signature at all.
    UNSIGNED = "unsigned"
    # Signatures, but none valid by a trusted key (another key, tampered, keyless...).
    UNTRUSTED = "untrusted"


PASSING: tuple[str, ...] = (Verdict.SIGNED, Verdict.INDEX_SIGNED, Verdict.ACCESSORY)

# What attestations, SBOMs and signatures carry, as layers or as the artifact type.
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
ACCESSORY_TYPES = frozenset(
    {
        SIMPLE_SIGNING,
        COSIGN_SIGNATURE_ARTIFACT,
        DSSE_ENVELOPE,
        IN_TOTO,
        "application/spdx+json",
        "text/spdx",
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx+xml",
        "application/vnd.syft+json",
        *SIGSTORE_BUNDLE_TYPES,
    }
)


def passes(verdict: str) -> bool:
    return verdict in PASSING


def is_accessory(
    manifest: Manifest, digest: str, tags: Iterable[str], present: Collection[str]
) -> bool:
    """A manifest about another one: a referrer (it has a subject), an accessory by its tags
    (every tag is one of cosign's or of the referrers tag schema, `sha256-<hex>.sig|.att|.sbom`
    or `sha256-<hex>`, naming another manifest in `present`, the repository's: the rule of
    oci/accessories.py subjects_of), or one whose artifact type or layers are signatures,
    attestations or SBOMs."""
    if manifest.subject is not None:
        return True
    if subjects_of(tags, digest, present) is not None:
        return True
    if manifest.referrer_artifact_type in ACCESSORY_TYPES:
        return True
    return bool(manifest.layers) and all(
        layer.media_type in ACCESSORY_TYPES for layer in manifest.layers
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
