"""Signing images on a test server with the trust engine, as `cargohold sign` does: the
simple-signing payload signed with an ECDSA P-256 key, stored under the `sha256-<hex>.sig` tag
(appended to the signatures already there) or as an OCI 1.1 referrer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.trust.formats import signature_tag
from cargohold.trust.keys import key_id, public_key_pem
from cargohold.trust.payload import build_payload
from cargohold.trust.signing import (
    ManifestToPush,
    referrer_manifest,
    sign_payload,
    signature_tag_manifest,
)
from tests.support.oci import OCI_MANIFEST, push_blob, put_manifest


@dataclass(frozen=True)
class SigningKey:
    private: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def pem(self) -> str:
        return public_key_pem(self.private.public_key()).decode()

    @property
    def fingerprint(self) -> str:
        return key_id(self.private.public_key())


def _push(client: httpx.Client, repo: str, reference: str, manifest: ManifestToPush) -> None:
    for blob in manifest.blobs:
        push_blob(client, repo, blob.data)
    response = put_manifest(client, repo, reference, manifest.content, manifest.media_type)
    assert response.status_code == 201, response.text


def sign(
    client: httpx.Client,
    host: str,
    repo: str,
    digest: str,
    key: SigningKey,
    referrer: bool = False,
    subject: dict[str, Any] | None = None,
) -> str:
    """Sign the image `digest` of `repo`; the reference the signature was stored under."""
    layer = sign_payload(key.private, build_payload(f"{host}/{repo}", digest))
    if referrer:
        descriptor = subject or {"mediaType": OCI_MANIFEST, "digest": digest, "size": 0}
        pushed = referrer_manifest(layer, descriptor)
        _push(client, repo, pushed.digest, pushed)
        return pushed.digest
    tag = signature_tag(digest)
    existing = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    document = existing.json() if existing.status_code == 200 else None
    manifest = signature_tag_manifest(layer, document)
    assert manifest is not None
    _push(client, repo, tag, manifest)
    return tag
