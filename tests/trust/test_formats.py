"""The documents a signature is made of, read strictly and written as cosign writes them.

`tests/data/trust/oci-attestation.sigstore.json` is a bundle cosign made (keyless, by
cody@soyland.com through GitHub's OIDC, logged in Rekor): sigstore/cosign
pkg/cosign/testdata/oci-attestation.sigstore.json, commit
b801d69100bd18e73e58a8f298cf9009ccccf0bd. Its DSSE signature verifies over our
pre-authentication encoding with its certificate's key, which pins that encoding to cosign's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.oci.accessories import accessory_subject
from cargohold.trust.bundles import (
    BundleInvalid,
    certificate_identity,
    pae,
    parse_bundle,
    parse_statement,
)
from cargohold.trust.formats import referrers_tag, signature_tag
from cargohold.trust.payload import PayloadInvalid, build_payload, parse_payload

DIGEST = "sha256:" + "ab" * 32
COSIGN_BUNDLE = Path(__file__).parent.parent / "data" / "trust" / "oci-attestation.sigstore.json"


def test_the_payload_is_written_as_cosign_writes_it() -> None:
    assert build_payload("h:5000/team/app", DIGEST) == (
        b'{"critical":{"identity":{"docker-reference":"h:5000/team/app"},'
        b'"image":{"docker-manifest-digest":"' + DIGEST.encode() + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    with_annotations = build_payload("h/app", DIGEST, {"z": "1", "a": "2"})
    assert with_annotations.endswith(b'"optional":{"a":"2","z":"1"}}')
    assert parse_payload(with_annotations).annotations() == {"a": "2", "z": "1"}


def test_the_payload_is_read_as_containers_signature_5_asks() -> None:
    # The cosign spec's own example: a capitalised digest key, an integer in optional.
    spec_example = (
        b'{"critical":{"identity":{"docker-reference":"testing/manifest"},'
        b'"image":{"Docker-manifest-digest":"' + DIGEST.encode() + b'"},'
        b'"type":"cosign container image signature"},'
        b'"optional":{"creator":"atomic","timestamp":1458239713}}'
    )
    payload = parse_payload(spec_example)
    assert payload.manifest_digest == DIGEST and payload.docker_reference == "testing/manifest"
    assert payload.annotations() == {"creator": "atomic"}
    good = build_payload("h/app", DIGEST)
    refused = {
        good.replace(b'"type"', b'"extra":1,"type"'): "critical has an unknown member 'extra'",
        good[:-1] + b',"more":{}}': "the payload has an unknown member 'more'",
        good.replace(b'{"critical"', b'{"critical":{},"critical"'): "duplicate key",
        b"[]": "the payload is not a JSON object",
        good.replace(b'"docker-reference":"h/app"', b'"docker-reference":7'): "not a string",
    }
    for data, reason in refused.items():
        with pytest.raises(PayloadInvalid, match=reason):
            parse_payload(data)


def test_tags_of_signatures_and_of_the_referrers_tag_schema() -> None:
    assert signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"
    assert referrers_tag(DIGEST) == "sha256-" + "ab" * 32
    for suffix in (".sig", ".att", ".sbom", ""):
        assert accessory_subject("sha256-" + "ab" * 32 + suffix) == DIGEST
    assert accessory_subject("sha256-abc.sig") is None
    assert accessory_subject("v1.0") is None


def test_a_bundle_cosign_made_is_parsed_and_its_dsse_signature_checks() -> None:
    bundle = parse_bundle(COSIGN_BUNDLE.read_bytes())
    assert (bundle.material, bundle.content, bundle.tlog_entries) == (
        "certificate",
        "dsse_envelope",
        1,
    )
    assert bundle.certificate_der is not None
    identity = certificate_identity(bundle.certificate_der)
    assert identity == "cody@soyland.com (issuer https://github.com/login/oauth)"
    statement = parse_statement(bundle.payload_type, bundle.payload)
    assert statement.predicate_type == "https://cosign.sigstore.dev/attestation/v1"
    assert statement.subject_digests == [
        "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    ]
    key = x509.load_der_x509_certificate(bundle.certificate_der).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(
        bundle.signatures[0], pae(bundle.payload_type, bundle.payload), ec.ECDSA(hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"mediaType": 5}', "not a sigstore bundle"),
        (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "not a sigstore"),
    ],
)
def test_malformed_bundles_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BundleInvalid, match=reason):
        parse_bundle(data)
