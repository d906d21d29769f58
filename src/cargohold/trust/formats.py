"""The names cosign, sigstore and the OCI specs give to the parts of a signature."""

from __future__ import annotations

from cargohold.oci.accessories import accessory_tag

# A simple-signing payload layer, and the annotations cosign puts on it.
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
# The spec's text says dev.cosignproject.cosign/*, its examples and every client write
# dev.sigstore.cosign/*: both are read.
CERTIFICATE_ANNOTATIONS = (
    "dev.sigstore.cosign/certificate",
    "dev.cosignproject.cosign/certificate",
)
CHAIN_ANNOTATIONS = ("dev.sigstore.cosign/chain", "dev.cosignproject.cosign/chain")
REKOR_BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
# The `critical.type` of a cosign image signature.
COSIGN_SIGNATURE_TYPE = "cosign container image signature"

# An OCI 1.1 referrer holding simple-signing layers (cosign's experimental OCI 1.1 mode).
COSIGN_SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
# A sigstore bundle (cosign v3's default), as a referrer's artifactType and its one layer.
SIGSTORE_BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
SIGSTORE_BUNDLE_TYPES = frozenset(
    {SIGSTORE_BUNDLE_V03, "application/vnd.dev.sigstore.bundle+json;version=0.3"}
)
# What a cosign v3 image signature states, inside the bundle's DSSE envelope.
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENTS = frozenset(
    {"https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"}
)
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"

OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"


def signature_tag(digest: str) -> str:
    """The tag cosign stores an image's signatures under: `sha256:abc` -> `sha256-abc.sig`."""
    return accessory_tag(digest, ".sig")


def referrers_tag(digest: str) -> str:
    """The OCI referrers tag schema's tag for a subject: `sha256:abc` -> `sha256-abc`."""
    return accessory_tag(digest)
