"""Signatures in the shapes cosign writes, made here with `cryptography` alone (not with
cargohold's trust engine, which the tests check against them).

- a cosign v3 signature: a sigstore bundle v0.3 (DSSE envelope over an in-toto statement
  with predicateType https://sigstore.dev/cosign/sign/v1 and the image digest as subject),
  stored as an OCI referrer with artifactType application/vnd.dev.sigstore.bundle.v0.3+json,
  the empty config and the `dev.sigstore.bundle.*` annotations (the manifest quoted in
  sigstore/cosign PR #4997);
- keyless signatures: the signer's Fulcio certificate in the bundle, or in the
  `dev.sigstore.cosign/certificate` annotation of a `.sig` layer. A self-signed certificate
  stands in for Fulcio's: offline, neither can be verified.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.oci import EMPTY_JSON, EMPTY_JSON_DIGEST, OCI_MANIFEST, push_blob, put_manifest

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def certificate_for(key: ec.EllipticCurvePrivateKey, email: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=True)
        .sign(key, hashes.SHA256())
    )


def sign_bundle(
    key: ec.EllipticCurvePrivateKey,
    subject_digest: str,
    certificate: x509.Certificate | None = None,
    predicate_type: str = SIGN_PREDICATE,
) -> bytes:
    """A cosign v3 signature bundle of the image: signed with a key (a public key hint), or
    keyless (the certificate)."""
    algorithm, hex_digest = subject_digest.split(":")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "", "digest": {algorithm: hex_digest}}],
        "predicateType": predicate_type,
        "predicate": {},
    }
    payload = json.dumps(statement).encode()
    payload_type = "application/vnd.in-toto+json"
    signature = key.sign(_pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    material: dict[str, Any] = (
        {"publicKey": {"hint": _b64(hashlib.sha256(der).digest())}}
        if certificate is None
        else {
            "certificate": {"rawBytes": _b64(certificate.public_bytes(serialization.Encoding.DER))}
        }
    )
    bundle = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {**material, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": _b64(payload),
            "payloadType": payload_type,
            "signatures": [{"sig": _b64(signature), "keyid": ""}],
        },
    }
    return json.dumps(bundle).encode()


def push_bundle_referrer(
    client: httpx.Client, repo: str, subject: dict[str, Any], bundle: bytes
) -> str:
    """Store a bundle as cosign v3 does: an OCI referrer of the image; its digest."""
    push_blob(client, repo, EMPTY_JSON)
    layer_digest = push_blob(client, repo, bundle)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": EMPTY_JSON_DIGEST,
            "size": 2,
        },
        "layers": [{"mediaType": BUNDLE_V03, "digest": layer_digest, "size": len(bundle)}],
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": SIGN_PREDICATE,
        },
        "subject": subject,
    }
    body = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    response = put_manifest(client, repo, digest, body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    return digest


def keyless_sig_layer(
    client: httpx.Client, repo: str, subject_digest: str, host: str, email: str
) -> dict[str, Any]:
    """A `.sig` layer as keyless `cosign sign` (v2) leaves it: payload, signature and the
    signer's certificate annotation; the payload is pushed."""
    key = ec.generate_private_key(ec.SECP256R1())
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": f"{host}/{repo}"},
                "image": {"docker-manifest-digest": subject_digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()
    digest = push_blob(client, repo, payload)
    pem = certificate_for(key, email).public_bytes(serialization.Encoding.PEM).decode()
    signature = _b64(key.sign(payload, ec.ECDSA(hashes.SHA256())))
    return {
        "mediaType": SIMPLE_SIGNING,
        "digest": digest,
        "size": len(payload),
        "annotations": {
            "dev.cosignproject.cosign/signature": signature,
            "dev.sigstore.cosign/certificate": pem,
        },
    }
