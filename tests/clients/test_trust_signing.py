"""`cargohold sign` and `verify` against a cargohold server, signed in as a developer.

What a release gate relies on: a signature by the key verifies (every shape cosign writes:
the `.sig` tag, an OCI referrer through the referrers API, a cosign v3 bundle); a tampered
payload, another key, a signature moved to another image (it binds the digest, not the tag),
different annotations and keyless signatures (not verifiable offline) do not pass, each with
its reason and a non-zero exit status.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.clients.conftest import Skopeo
from tests.clients.trust_cli import PASSWORD, TrustCli
from tests.support.cosign_shapes import (
    certificate_for,
    keyless_sig_layer,
    push_bundle_referrer,
    sign_bundle,
)
from tests.support.oci import OCI_MANIFEST, push_blob, push_image, put_manifest, sha256
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, skopeo: Skopeo) -> TrustCli:
    tool = TrustCli(tmp_path_factory.mktemp("trust"), skopeo.authfile)
    tool.key_pair("cosign")
    tool.key_pair("other")
    return tool


def _private_key(cli: TrustCli, name: str) -> ec.EllipticCurvePrivateKey:
    """The CLI's key, opened as cosign would (to make shapes cargohold does not write)."""
    from cargohold.trust.keys import load_private_key

    return load_private_key((cli.home / f"{name}.key").read_bytes(), PASSWORD.encode())


def _sig_manifest(client: httpx.Client, repo: str, digest: str) -> dict[str, object]:
    tag = digest.replace(":", "-") + ".sig"
    response = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_sign_then_verify_with_annotations(
    cli: TrustCli, sqlite_registry: CargoholdServer, developer: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(developer, repo, "v1", layers=[b"signed image"])
    image = f"{sqlite_registry.host}/{repo}:v1"
    signed = cli.ok("sign", image, "--key", "cosign.key", "-a", "env=prod", "-a", "run=42")
    assert f"Signed {sqlite_registry.host}/{repo}@{digest}" in signed
    manifest = _sig_manifest(developer, repo, digest)
    [layer] = manifest["layers"]  # type: ignore[misc]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = json.loads(developer.get(f"/v2/{repo}/blobs/{layer['digest']}").content)
    assert payload == {
        "critical": {
            "identity": {"docker-reference": f"{sqlite_registry.host}/{repo}"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": {"env": "prod", "run": "42"},
    }
    assert base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])[0] == 0x30

    verified = cli.ok("verify", image, "--key", "cosign.pub", "-a", "env=prod")
    assert "valid        .sig tag" in verified and "signed by cosign.pub" in verified
    assert "1 valid signature(s) by cosign.pub" in verified
    report = json.loads(
        cli.ok("verify", f"{sqlite_registry.host}/{repo}@{digest}", "--key", "cosign.pub", "--json")
    )
    assert report["verified"] is True and report["subject"] == digest
    assert [(s["shape"], s["status"], s["annotations"]) for s in report["signatures"]] == [
        ("sig-tag", "valid", {"env": "prod", "run": "42"})
    ]

    mismatch = cli.refused("verify", image, "--key", "cosign.pub", "-a", "env=dev")
    assert "annotation env is 'prod', not 'dev'" in mismatch.stdout
    assert "no signature by the key has the annotations asked for" in mismatch.stderr


def test_a_second_signature_is_appended_to_the_sig_manifest(
    cli: TrustCli, sqlite_registry: CargoholdServer, developer: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(developer, repo, "v1", layers=[b"twice signed"])
    image = f"{sqlite_registry.host}/{repo}:v1"
    cli.ok("sign", image, "--key", "cosign.key")
    cli.ok("sign", image, "--key", "other.key", "-a", "by=other")
    layers = _sig_manifest(developer, repo, digest)["layers"]
    assert len(layers) == 2  # type: ignore[arg-type]
    both = cli.ok("verify", image, "--key", "cosign.pub", "--key", "other.pub")
    assert "2 valid signature(s) by cosign.pub, other.pub" in both
    # With one key, the other key's signature is listed as not matching, and the image passes.
    one = cli.ok("verify", image, "--key", "other.pub")
    assert "the signature does not match the key other.pub" in one


def test_wrong_key_tampered_payload_and_moved_signature_are_refused(
    cli: TrustCli, sqlite_registry: CargoholdServer, developer: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(developer, repo, "v1", layers=[b"original"])
    image = f"{sqlite_registry.host}/{repo}:v1"
    cli.ok("sign", image, "--key", "cosign.key", "-a", "env=prod")

    wrong = cli.refused("verify", image, "--key", "other.pub")
    assert "the signature does not match the key other.pub" in wrong.stdout
    assert "no valid signature by the key" in wrong.stderr

    # Tampered: the payload changed (env=dev), the signature kept.
    manifest = _sig_manifest(developer, repo, digest)
    [layer] = manifest["layers"]  # type: ignore[misc]
    payload = developer.get(f"/v2/{repo}/blobs/{layer['digest']}").content
    forged = payload.replace(b'"env":"prod"', b'"env":"dev"')
    assert forged != payload
    layer.update(digest=push_blob(developer, repo, forged), size=len(forged))
    tag = digest.replace(":", "-") + ".sig"
    assert put_manifest(developer, repo, tag, manifest).status_code == 201
    tampered = cli.refused("verify", image, "--key", "cosign.pub")
    assert "invalid      .sig tag" in tampered.stdout
    assert "the signature does not match the key cosign.pub" in tampered.stdout

    # Moved: the tag now names another image, and the original's (valid) signature manifest
    # is copied to the new image's .sig tag: the signature binds the digest, not the tag.
    cli.ok("sign", f"{sqlite_registry.host}/{repo}@{digest}", "--key", "other.key")
    original = _sig_manifest(developer, repo, digest)
    other, _ = push_image(developer, repo, "v1", layers=[b"substituted"])
    assert cli.refused("verify", image, "--key", "other.pub").stderr.endswith(
        "no signatures found\n"
    )
    copied = put_manifest(developer, repo, other.replace(":", "-") + ".sig", original)
    assert copied.status_code == 201
    moved = cli.refused("verify", image, "--key", "other.pub")
    assert f"signs another image ({digest}), not {other}" in moved.stdout


def test_referrer_through_the_referrers_api(
    cli: TrustCli, sqlite_registry: CargoholdServer, developer: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(developer, repo, "v1", layers=[b"referred"])
    image = f"{sqlite_registry.host}/{repo}:v1"
    stored = cli.ok("sign", image, "--key", "cosign.key", "--referrer")
    assert "(OCI referrer)" in stored
    referrers = developer.get(f"/v2/{repo}/referrers/{digest}").json()["manifests"]
    assert [r["artifactType"] for r in referrers] == [
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    ]
    # cargohold has the referrers API: no .sig tag, no referrers tag schema index.
    tags = developer.get(f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["v1"]
    verified = cli.ok("verify", image, "--key", "cosign.pub")
    assert "looked at referrers API: 1 referrer(s)" in verified
    assert "valid        OCI referrer " + referrers[0]["digest"] in verified


def test_cosign_v3_bundles_with_a_key_verify_and_keyless_ones_are_reported(
    cli: TrustCli, sqlite_registry: CargoholdServer, developer: httpx.Client, repo: str
) -> None:
    digest, body = push_image(developer, repo, "v1", layers=[b"bundled"])
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
    image = f"{sqlite_registry.host}/{repo}:v1"

    # Keyless only: recognised, reported, never a pass offline.
    signer = ec.generate_private_key(ec.SECP256R1())
    keyless = sign_bundle(signer, digest, certificate_for(signer, "ci@example.com"))
    push_bundle_referrer(developer, repo, subject, keyless)
    layer = keyless_sig_layer(developer, repo, digest, sqlite_registry.host, "dev@example.com")
    config = push_blob(developer, repo, b"{}")
    sig = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": 2,
        },
        "layers": [layer],
    }
    assert put_manifest(developer, repo, digest.replace(":", "-") + ".sig", sig).status_code == 201
    only_keyless = cli.refused("verify", image, "--key", "cosign.pub")
    assert "keyless, certificate for dev@example.com: not verified offline" in only_keyless.stdout
    assert "keyless, certificate for ci@example.com: not verified offline" in only_keyless.stdout
    assert "only keyless signatures, which are not verified offline" in only_keyless.stderr

    # A bundle signed with another key does not pass; one signed with the key does.
    push_bundle_referrer(developer, repo, subject, sign_bundle(_private_key(cli, "other"), digest))
    assert (
        "does not match the key cosign.pub"
        in cli.refused("verify", image, "--key", "cosign.pub").stdout
    )
    bundle = push_bundle_referrer(
        developer, repo, subject, sign_bundle(_private_key(cli, "cosign"), digest)
    )
    report = json.loads(cli.ok("verify", image, "--key", "cosign.pub", "--json"))
    by_location = {s["location"]: s for s in report["signatures"]}
    assert by_location[bundle]["kind"] == "sigstore-bundle"
    assert by_location[bundle]["status"] == "valid"
    assert sorted(s["status"] for s in report["signatures"]) == [
        "invalid",
        "keyless",
        "keyless",
        "valid",
    ]
    # A bundle of another image's digest, attached here, is refused.
    elsewhere = sign_bundle(_private_key(cli, "cosign"), sha256(b"another manifest"))
    moved = push_bundle_referrer(developer, repo, subject, elsewhere)
    report = json.loads(cli.ok("verify", image, "--key", "cosign.pub", "--json"))
    moved_check = next(s for s in report["signatures"] if s["location"] == moved)
    assert moved_check["status"] == "invalid" and "not " + digest in moved_check["reason"]


def test_bad_input_is_one_line(
    cli: TrustCli, sqlite_registry: CargoholdServer, repo: str, tmp_path: Path
) -> None:
    host = sqlite_registry.host
    assert (
        "no such image"
        in cli.refused("verify", f"{host}/{repo}:nope", "--key", "cosign.pub").stderr
    )
    assert (
        "not a public key"
        in cli.refused("verify", f"{host}/{repo}:v1", "--key", "cosign.key").stderr
    )
    assert (
        "give KEY=VALUE"
        in cli.refused("sign", f"{host}/{repo}:v1", "--key", "cosign.key", "-a", "novalue").stderr
    )
    assert "name the registry" in cli.refused("verify", "team/app:v1", "--key", "cosign.pub").stderr
    garbage = tmp_path / "garbage.pub"
    garbage.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert (
        "not a key cosign can use"
        in cli.refused("verify", f"{host}/{repo}:v1", "--key", str(garbage)).stderr
    )
    assert "exists" in cli.refused("generate-key-pair").stderr
