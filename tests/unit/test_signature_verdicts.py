"""What the signature gate lets through unsigned, and when verdicts are computed.

- Accessories are judged by what they carry: the manifests cosign (v2 `.sig`/`.att`/`.sbom`
  tags, OCI 1.1 referrers, v3 bundles), Notation, oras and BuildKit push pass; an image a
  runtime can unpack does not, whatever `subject`, `artifactType` or tag it is given.
- Verdicts are the gate's alone: a project that does not enforce stores none, so pushing a
  signature there verifies nothing; one that enforces stores the subject's verdict at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.config import Settings
from cargohold.extensions.signatures import SignaturesExtension
from cargohold.oci import mediatypes as mt
from cargohold.oci.digests import EMPTY_JSON, EMPTY_JSON_DIGEST, compute
from cargohold.oci.manifests import parse_manifest
from cargohold.policy.signature_gate import is_accessory
from cargohold.server import prepare
from cargohold.services.caller import anonymous_caller
from cargohold.trust.formats import signature_tag
from cargohold.trust.keys import public_key_pem
from cargohold.trust.payload import build_payload
from cargohold.trust.signing import (
    ManifestToPush,
    referrer_manifest,
    referrers_tag_index,
    sign_payload,
    signature_tag_manifest,
)
from cargohold.wiring import Services, build_services

TESTER = anonymous_caller("192.0.2.1", "tests")
IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
SUBJECT = {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 500}


def _descriptor(media_type: str, data: bytes = b"x", **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": compute(data), "size": len(data), **extra}


def _manifest(layers: list[str], config: str = IMAGE_CONFIG, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": _descriptor(config, b"{}"),
        "layers": [_descriptor(kind, kind.encode()) for kind in layers],
    }
    return {**document, **fields}


def _accessory(document: dict[str, Any]) -> bool:
    body = json.dumps(document).encode()
    return is_accessory(parse_manifest(body, document["mediaType"]))


def _signed_layer() -> Any:
    key = ec.generate_private_key(ec.SECP256R1())
    return sign_payload(key, build_payload("registry.example/team/app", SUBJECT["digest"]))


def _of(pushed: ManifestToPush | None) -> dict[str, Any]:
    assert pushed is not None
    return dict(json.loads(pushed.content))


ACCESSORIES = {
    # cosign v2 `.att`: a DSSE envelope layer under an ordinary image config.
    "cosign .att": _manifest(["application/vnd.dsse.envelope.v1+json"]),
    # cosign attach sbom (pkg/types), under the `.sbom` tag or as an OCI 1.1 referrer.
    "cosign .sbom spdx": _manifest(["text/spdx"]),
    "cosign sbom referrer": _manifest(
        ["text/spdx+json"],
        config=mt.OCI_EMPTY,
        artifactType="application/vnd.dev.cosign.artifact.sbom.v1+json",
        subject=SUBJECT,
    ),
    "cosign .sbom cyclonedx": _manifest(["application/vnd.cyclonedx+json"]),
    # cosign v3: a sigstore bundle referrer (signature or attestation).
    "cosign v3 bundle": _manifest(
        ["application/vnd.dev.sigstore.bundle.v0.3+json"],
        config=mt.OCI_EMPTY,
        artifactType="application/vnd.dev.sigstore.bundle.v0.3+json",
        subject=SUBJECT,
    ),
    # Notation: a JWS or COSE envelope; the artifactType (or, in the referrers tag schema's
    # image-manifest form, the config) says application/vnd.cncf.notary.signature.
    "notation jws": _manifest(
        ["application/jose+json"],
        config=mt.OCI_EMPTY,
        artifactType="application/vnd.cncf.notary.signature",
        subject=SUBJECT,
    ),
    "notation cose, config form": _manifest(
        ["application/cose"], config="application/vnd.cncf.notary.signature", subject=SUBJECT
    ),
    # oras attach with typed files, or with no file (the empty descriptor as its layer).
    "oras attach sbom.json:application/spdx+json": _manifest(
        ["application/spdx+json"], config=mt.OCI_EMPTY, artifactType="application/vnd.example"
    ),
    "oras attach, annotations only": _manifest(
        [mt.OCI_EMPTY], config=mt.OCI_EMPTY, artifactType="application/vnd.example.review"
    ),
    # BuildKit's attestation manifest inside an image index.
    "buildkit attestation": _manifest(["application/vnd.in-toto+json"]),
    # The referrers tag schema's index: every entry names its artifactType.
    "referrers tag index": {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            _descriptor(mt.OCI_MANIFEST, b"r1", artifactType="application/spdx+json"),
            _descriptor(
                mt.OCI_MANIFEST, b"r2", artifactType="application/vnd.cncf.notary.signature"
            ),
        ],
    },
}

IMAGES = {
    "an image": _manifest([TAR_GZIP]),
    "an image with a subject": _manifest([TAR_GZIP], subject=SUBJECT),
    "an image calling itself an SBOM": _manifest(
        [TAR_GZIP], artifactType="application/spdx+json", subject=SUBJECT
    ),
    "an image calling itself a signature": _manifest(
        [TAR_GZIP],
        artifactType="application/vnd.dev.cosign.artifact.sig.v1+json",
        subject=SUBJECT,
    ),
    "an image with a signature layer added": _manifest(
        [TAR_GZIP, "application/vnd.dev.cosign.simplesigning.v1+json"], subject=SUBJECT
    ),
    "a Docker image": {
        **_manifest(
            ["application/vnd.docker.image.rootfs.diff.tar.gzip"],
            config="application/vnd.docker.container.image.v1+json",
        ),
        "mediaType": mt.DOCKER_MANIFEST,
    },
    # oras's default file type is a tar layer: such an artifact must be signed itself.
    "oras attach of an untyped file": _manifest(
        ["application/vnd.oci.image.layer.v1.tar"],
        config=mt.OCI_EMPTY,
        artifactType="application/spdx+json",
        subject=SUBJECT,
    ),
    "a Helm chart": _manifest(
        ["application/vnd.cncf.helm.chart.content.v1.tar+gzip"],
        config="application/vnd.cncf.helm.config.v1+json",
    ),
    "an image with no layers": _manifest([], subject=SUBJECT),
    "a multi-platform index": {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            _descriptor(
                mt.OCI_MANIFEST, b"amd64", platform={"os": "linux", "architecture": "amd64"}
            ),
            _descriptor(mt.OCI_MANIFEST, b"att", artifactType="application/vnd.in-toto+json"),
        ],
    },
}


@pytest.mark.parametrize("name", sorted(ACCESSORIES))
def test_what_signers_push_is_an_accessory(name: str) -> None:
    assert _accessory(ACCESSORIES[name])


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_an_image_is_not_an_accessory_whatever_it_claims(name: str) -> None:
    assert not _accessory(IMAGES[name])


def test_what_cargohold_sign_writes_is_an_accessory() -> None:
    layer = _signed_layer()
    sig = _of(signature_tag_manifest(layer, None))
    appended = _of(signature_tag_manifest(_signed_layer(), sig))
    referrer = referrer_manifest(layer, SUBJECT)
    index = _of(referrers_tag_index(referrer, None))
    for document in (sig, appended, json.loads(referrer.content), index):
        assert _accessory(document), document


# -- when verdicts are computed ---------------------------------------------------------------


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings(data_dir=str(tmp_path), job_workers=0, scan_on_push=False)
    prepare(settings)
    built = build_services(settings)
    try:
        yield built
    finally:
        built.jobs.queue.stop()


def _extension(services: Services) -> SignaturesExtension:
    extension = services.extensions["signatures"]
    assert isinstance(extension, SignaturesExtension)
    return extension


def _push_image(services: Services, repository: str) -> str:
    layer = repository.encode() + b" layer"
    services.uploads.put_whole(repository, compute(layer), layer)
    services.uploads.put_whole(repository, EMPTY_JSON_DIGEST, EMPTY_JSON)
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": IMAGE_CONFIG, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [{"mediaType": TAR_GZIP, "digest": compute(layer), "size": len(layer)}],
    }
    body = json.dumps(document).encode()
    return services.registry.put_manifest(repository, "v1", body, mt.OCI_MANIFEST, TESTER).digest


def _sign(
    services: Services, repository: str, digest: str, key: ec.EllipticCurvePrivateKey
) -> None:
    layer = sign_payload(key, build_payload(f"registry.example/{repository}", digest))
    manifest = signature_tag_manifest(layer, None)
    assert manifest is not None
    for blob in manifest.blobs:
        services.uploads.put_whole(repository, blob.digest, blob.data)
    services.registry.put_manifest(
        repository, signature_tag(digest), manifest.content, manifest.media_type, TESTER
    )


def test_a_project_that_does_not_enforce_computes_no_verdict(services: Services) -> None:
    extension = _extension(services)
    records, policy = extension.policy.records, extension.policy
    key = ec.generate_private_key(ec.SECP256R1())
    policy.add_key("open", public_key_pem(key.public_key()).decode(), TESTER)
    digest = _push_image(services, "open/app")
    _sign(services, "open/app", digest, key)
    # Nothing reads a verdict of a project that does not enforce: none was computed.
    assert records.verdict("open/app", digest) is None

    # The same in a project that enforces: the signature's arrival stores the verdict.
    policy.add_key("closed", public_key_pem(key.public_key()).decode(), TESTER)
    policy.set_enforcement("closed", True, TESTER)
    digest = _push_image(services, "closed/app")
    assert records.verdict("closed/app", digest) is None  # an ordinary push computes nothing
    _sign(services, "closed/app", digest, key)
    stored = records.verdict("closed/app", digest)
    assert stored is not None and stored.verdict == "signed"
    # Turning enforcement off drops them; a key change there recomputes nothing.
    policy.set_enforcement("closed", False, TESTER)
    assert records.verdict("closed/app", digest) is None
    other = ec.generate_private_key(ec.SECP256R1())
    policy.add_key("closed", public_key_pem(other.public_key()).decode(), TESTER)
    assert records.verdict("closed/app", digest) is None
