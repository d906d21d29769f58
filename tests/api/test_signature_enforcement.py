"""Signature enforcement on pull, against a real server (SQLite and PostgreSQL), signed in as
users are: a project admin manages the trusted keys and the switch, a developer pushes and
signs (the trust engine, as `cargohold sign` does), a guest pulls.

What a release process relies on: in an enforcing project a manifest GET of an image no
trusted key signed is refused with 403 DENIED naming the keys expected, and everything a
client needs around a signed image still passes (HEAD, the platform manifests of a signed
index, signatures, attestations, SBOMs and referrers indexes, judged by what they carry, not by
a `subject` or a tag); the signature binds the digest, not the tag; key changes and deleted
signatures take effect; every change is audited with who made it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.policy.permissions import Role
from cargohold.trust.keys import generate_key_pair
from tests.support.accounts import Accounts, Login
from tests.support.cosign_shapes import push_bundle_referrer, sign_bundle
from tests.support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    encode,
    error_code,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    sha256,
)
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.support.signing import SigningKey, sign

PASSWORD = "correct horse battery"
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
_projects = itertools.count()


@dataclass
class World:
    server: CargoholdServer
    project: str
    admin: httpx.Client  # the project admin
    developer: httpx.Client
    guest: httpx.Client
    trusted: SigningKey
    other: SigningKey
    logins: dict[Role, Login]

    def repo(self, name: str) -> str:
        return f"{self.project}/{name}"

    def get(self, repo: str, reference: str) -> httpx.Response:
        return self.guest.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)

    def head(self, repo: str, reference: str) -> httpx.Response:
        return self.guest.head(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)

    def add_key(self, key: SigningKey) -> httpx.Response:
        return self.admin.post(f"/api/v1/projects/{self.project}/trust/keys", json={"pem": key.pem})

    def enforce(self, on: bool) -> httpx.Response:
        return self.admin.put(f"/api/v1/projects/{self.project}/trust", json={"enforce": on})

    def sign(self, repo: str, digest: str, key: SigningKey, **options: Any) -> str:
        return sign(self.developer, self.server.host, repo, digest, key, **options)


def _refused_soon(world: World, repo: str, reference: str) -> str:
    """The refusal of a GET that a change made through the admin API should now refuse. The
    server runs two worker processes: the one that did not make the change sees it at its
    next gate refresh (every 2 s), so this asks again for a bounded while."""
    deadline = time.monotonic() + 20
    response = world.get(repo, reference)
    while response.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        response = world.get(repo, reference)
    return _refused(response)


def _passes_soon(world: World, repo: str, reference: str) -> None:
    """As _refused_soon, for a GET a change should now let through."""
    deadline = time.monotonic() + 20
    response = world.get(repo, reference)
    while response.status_code == 403 and time.monotonic() < deadline:
        time.sleep(0.2)
        response = world.get(repo, reference)
    assert response.status_code == 200, response.text


def _refused(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    assert error_code(response) == "DENIED"
    return str(response.json()["errors"][0]["message"])


@pytest.fixture
def world(registry: CargoholdServer) -> Iterator[World]:
    project = f"enf{next(_projects)}-{registry.settings().metadata_url[:6].strip(':/')}"
    accounts = Accounts(registry)
    accounts.project(project)
    logins = {}
    for role in (Role.PROJECT_ADMIN, Role.DEVELOPER, Role.GUEST):
        name = f"{project}-{role.value}"
        accounts.user(name, PASSWORD)
        accounts.member(project, name, role)
        logins[role] = accounts.token(name)
    accounts.close()
    clients = {
        role: httpx.Client(base_url=registry.url, auth=login.auth, timeout=60)
        for role, login in logins.items()
    }
    yield World(
        registry,
        project,
        clients[Role.PROJECT_ADMIN],
        clients[Role.DEVELOPER],
        clients[Role.GUEST],
        SigningKey.generate(),
        SigningKey.generate(),
        logins,
    )
    for client in clients.values():
        client.close()


def _enforcing(world: World) -> None:
    added = world.add_key(world.trusted)
    assert added.status_code == 201, added.text
    assert added.json()["fingerprint"] == world.trusted.fingerprint
    switched = world.enforce(True)
    assert switched.status_code == 200, switched.text
    assert switched.json()["enforce"] is True


def test_unsigned_refused_signed_passes_other_key_refused_head_never(world: World) -> None:
    repo = world.repo("app")
    unsigned, _ = push_image(world.developer, repo, "unsigned", layers=[b"unsigned"])
    signed, _ = push_image(world.developer, repo, "signed", layers=[b"signed"])
    foreign, _ = push_image(world.developer, repo, "foreign", layers=[b"foreign"])
    world.sign(repo, signed, world.trusted)
    world.sign(repo, foreign, world.other)
    # Not enforcing yet (the default): everything is pulled.
    assert world.get(repo, "unsigned").status_code == 200
    _enforcing(world)

    message = _refused_soon(world, repo, "unsigned")
    assert f"image {unsigned} is not signed" in message
    assert f"expected a signature by one of: {world.trusted.fingerprint}" in message
    assert world.get(repo, "signed").status_code == 200
    assert world.get(repo, signed).status_code == 200
    message = _refused(world.get(repo, "foreign"))
    assert f"image {foreign} has no valid signature by a trusted key" in message
    assert world.trusted.fingerprint in message and world.other.fingerprint not in message
    # HEAD resolves digests: never refused, and it tells the digest.
    head = world.head(repo, "unsigned")
    assert head.status_code == 200 and head.headers["docker-content-digest"] == unsigned
    # Accessories pass: the signature manifests, by tag and by digest.
    sig = world.get(repo, signed.replace(":", "-") + ".sig")
    assert sig.status_code == 200
    assert world.get(repo, sha256(sig.content)).status_code == 200
    assert world.get(repo, foreign.replace(":", "-") + ".sig").status_code == 200


def test_key_changes_take_effect_and_are_audited(world: World) -> None:
    repo = world.repo("keys")
    first, _ = push_image(world.developer, repo, "first", layers=[b"by trusted"])
    second, _ = push_image(world.developer, repo, "second", layers=[b"by other"])
    world.sign(repo, first, world.trusted)
    world.sign(repo, second, world.other)
    _enforcing(world)
    assert world.get(repo, "first").status_code == 200
    _refused_soon(world, repo, "second")

    # A key added after signing: the images it signed pass.
    assert world.add_key(world.other).status_code == 201
    assert world.add_key(world.other).status_code == 409
    assert world.get(repo, "second").status_code == 200
    listed = world.guest.get(f"/api/v1/projects/{world.project}/trust/keys").json()["keys"]
    assert [k["fingerprint"] for k in listed] == [
        world.trusted.fingerprint,
        world.other.fingerprint,
    ]
    assert listed[0]["algorithm"] == "ECDSA secp256r1"
    assert listed[0]["addedBy"] == f"{world.project}-project-admin"
    # A key removed after signing: what only it signed is refused again.
    fingerprint = world.trusted.fingerprint
    removed = world.admin.delete(f"/api/v1/projects/{world.project}/trust/keys/{fingerprint}")
    assert removed.status_code == 204, removed.text
    message = _refused_soon(world, repo, "first")
    assert f"expected a signature by one of: {world.other.fingerprint}" in message
    assert world.get(repo, "second").status_code == 200
    gone = world.admin.delete(f"/api/v1/projects/{world.project}/trust/keys/{fingerprint}")
    assert (gone.status_code, error_code(gone)) == (404, "KEY_UNKNOWN")
    # Turning enforcement off lets everything through again.
    assert world.enforce(False).json()["enforce"] is False
    _passes_soon(world, repo, "first")

    # Every change audited, with who made it.
    events = world.server.client().get(
        "/api/v1/audit", params={"project": world.project, "limit": 100}
    )
    assert events.status_code == 200, events.text
    changes = [
        (e["action"], e["actor"])
        for e in events.json()["events"]
        if e["action"].startswith("trust.")
    ]
    admin = f"{world.project}-project-admin"
    assert changes[::-1] == [
        ("trust.key.add", admin),
        ("trust.enforce", admin),
        ("trust.key.add", admin),
        ("trust.key.remove", admin),
        ("trust.enforce", admin),
    ]


def test_an_accessory_tag_does_not_let_an_image_through(world: World) -> None:
    """Only a manifest whose every tag is an accessory tag naming an image of the repository is
    an accessory: an unsigned image also tagged `latest`, or tagged `.sig` for a digest the
    repository does not hold, is refused; a real signature still passes."""
    repo = world.repo("sneaky")
    signed, _ = push_image(world.developer, repo, "signed", layers=[b"signed image"])
    world.sign(repo, signed, world.trusted)
    _enforcing(world)
    absent = "sha256-" + "ab" * 32 + ".sig"
    unsigned, body = push_image(world.developer, repo, "latest", layers=[b"unsigned image"])
    assert put_manifest(world.developer, repo, absent, body, OCI_MANIFEST).status_code == 201
    assert f"image {unsigned} is not signed" in _refused_soon(world, repo, "latest")
    _refused(world.get(repo, absent))
    _refused(world.get(repo, unsigned))
    # A tag naming an image that is here, beside an ordinary tag: an image of its own.
    other, body = push_image(world.developer, repo, "other", layers=[b"another unsigned"])
    alias = signed.replace(":", "-") + ".att"
    assert put_manifest(world.developer, repo, alias, body, OCI_MANIFEST).status_code == 201
    assert f"image {other} is not signed" in _refused_soon(world, repo, "other")
    _refused(world.get(repo, alias))
    # The real signature passes, by tag and by digest.
    sig = world.get(repo, signed.replace(":", "-") + ".sig")
    assert sig.status_code == 200
    assert world.get(repo, sha256(sig.content)).status_code == 200
    assert world.get(repo, "signed").status_code == 200


def test_an_image_cannot_pass_as_an_accessory(world: World) -> None:
    """What a manifest carries makes it an accessory, not its shape: an unsigned image pushed
    only under an `.att` tag of a signed image, as a referrer of it (a `subject`), or as a
    referrer calling itself an SBOM, is refused; the real signature still passes."""
    repo = world.repo("disguised")
    signed, signed_body = push_image(world.developer, repo, "signed", layers=[b"the signed one"])
    world.sign(repo, signed, world.trusted)
    _enforcing(world)
    subject = {"mediaType": OCI_MANIFEST, "digest": signed, "size": len(signed_body)}
    # Only under an accessory tag of the signed image.
    body = encode(image_manifest(world.developer, repo, layers=[b"hidden under .att"]))
    alias = signed.replace(":", "-") + ".att"
    assert put_manifest(world.developer, repo, alias, body, OCI_MANIFEST).status_code == 201
    assert f"image {sha256(body)} is not signed" in _refused_soon(world, repo, alias)
    _refused(world.get(repo, sha256(body)))
    # A referrer of the signed image, by digest and under its `.sbom` tag, with and without
    # an SBOM's artifactType: the referrers API lists them, the gate refuses them.
    disguises = []
    for n, fields in enumerate(({}, {"artifactType": "application/spdx+json"})):
        document = image_manifest(world.developer, repo, layers=[b"runs %d" % n], **fields)
        document["subject"] = subject
        body = encode(document)
        assert put_manifest(world.developer, repo, sha256(body), body).status_code == 201
        disguises.append(sha256(body))
    sbom_tag = signed.replace(":", "-") + ".sbom"
    assert put_manifest(world.developer, repo, sbom_tag, body).status_code == 201
    listed = world.guest.get(f"/v2/{repo}/referrers/{signed}").json()["manifests"]
    assert set(disguises) <= {entry["digest"] for entry in listed}
    for digest in disguises:
        assert f"image {digest} is not signed" in _refused(world.get(repo, digest))
    _refused(world.get(repo, sbom_tag))
    # The real signature passes, by tag and by digest, and so does its image.
    sig = world.get(repo, signed.replace(":", "-") + ".sig")
    assert sig.status_code == 200
    assert world.get(repo, sha256(sig.content)).status_code == 200
    assert world.get(repo, "signed").status_code == 200


def test_a_deleted_signature_no_longer_signs_its_image(world: World) -> None:
    """Deleting a signature (its `.sig` tag, the `.sig` manifest, or a signature referrer)
    refuses its image again in a project that enforces; signing again lets it through."""
    repo = world.repo("unsigned-again")
    by_tag, _ = push_image(world.developer, repo, "by-tag", layers=[b"signed under .sig"])
    by_ref, body = push_image(world.developer, repo, "by-referrer", layers=[b"by a referrer"])
    world.sign(repo, by_tag, world.trusted)
    subject = {"mediaType": OCI_MANIFEST, "digest": by_ref, "size": len(body)}
    referrer = world.sign(repo, by_ref, world.trusted, referrer=True, subject=subject)
    _enforcing(world)
    _passes_soon(world, repo, "by-tag")
    _passes_soon(world, repo, "by-referrer")

    sig_tag = by_tag.replace(":", "-") + ".sig"
    sig_digest = sha256(world.get(repo, sig_tag).content)
    assert world.admin.delete(f"/v2/{repo}/manifests/{sig_tag}").status_code == 202
    assert f"image {by_tag} is not signed" in _refused_soon(world, repo, "by-tag")
    assert world.admin.delete(f"/v2/{repo}/manifests/{referrer}").status_code == 202
    assert f"image {by_ref} is not signed" in _refused_soon(world, repo, "by-referrer")

    # Signed again; then the `.sig` manifest itself deleted by digest.
    world.sign(repo, by_tag, world.trusted)
    _passes_soon(world, repo, "by-tag")
    new_sig = sha256(world.get(repo, sig_tag).content)
    assert new_sig != sig_digest  # a signature of its own, not the deleted one's manifest
    assert world.admin.delete(f"/v2/{repo}/manifests/{new_sig}").status_code == 202
    assert f"image {by_tag} is not signed" in _refused_soon(world, repo, "by-tag")


def test_the_signature_binds_the_digest_not_the_tag(world: World) -> None:
    repo = world.repo("retag")
    digest, body = push_image(world.developer, repo, "release", layers=[b"release build"])
    world.sign(repo, digest, world.trusted)
    _enforcing(world)
    # The same image under a new tag: the same digest, so it passes.
    assert put_manifest(world.developer, repo, "stable", body, OCI_MANIFEST).status_code == 201
    assert world.get(repo, "stable").status_code == 200
    # Another image under the signed tag: refused.
    moved, _ = push_image(world.developer, repo, "release", layers=[b"something else"])
    assert moved != digest
    assert f"image {moved} is not signed" in _refused_soon(world, repo, "release")
    assert world.get(repo, digest).status_code == 200


def _platform(world: World, repo: str, arch: str) -> tuple[str, bytes]:
    document = image_manifest(
        world.developer,
        repo,
        layers=[f"{arch} layer".encode()],
        config=json.dumps({"architecture": arch, "os": "linux"}).encode(),
    )
    body = encode(document)
    assert put_manifest(world.developer, repo, sha256(body), body).status_code == 201
    return sha256(body), body


def _index(world: World, repo: str, tag: str, children: list[tuple[str, bytes, str]]) -> str:
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "platform": {"os": "linux", "architecture": arch},
            }
            for digest, body, arch in children
        ],
    }
    body = encode(index)
    assert put_manifest(world.developer, repo, tag, body).status_code == 201
    return sha256(body)


def test_a_signed_index_passes_its_platform_manifests(world: World) -> None:
    repo = world.repo("multi")
    amd64, amd64_body = _platform(world, repo, "amd64")
    arm64, arm64_body = _platform(world, repo, "arm64")
    signed = _index(world, repo, "v1", [(amd64, amd64_body, "amd64"), (arm64, arm64_body, "arm64")])
    riscv, riscv_body = _platform(world, repo, "riscv64")
    unsigned = _index(world, repo, "v2", [(riscv, riscv_body, "riscv64")])
    _enforcing(world)
    # Signed after enforcement was turned on: the signature's arrival computes the verdicts.
    world.sign(repo, signed, world.trusted)
    assert world.get(repo, "v1").status_code == 200
    assert world.get(repo, amd64).status_code == 200
    assert world.get(repo, arm64).status_code == 200
    _refused_soon(world, repo, "v2")
    assert unsigned in _refused(world.get(repo, unsigned))
    _refused(world.get(repo, riscv))


def test_accessories_and_referrers_pass(world: World) -> None:
    repo = world.repo("acc")
    digest, body = push_image(world.developer, repo, "v1", layers=[b"with accessories"])
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
    _enforcing(world)
    _refused_soon(world, repo, "v1")
    # An SBOM referrer, and an attestation under cosign's `.att` tag.
    sbom_data = b'{"spdxVersion": "SPDX-2.3"}'
    push_blob(world.developer, repo, sbom_data)
    empty = b"{}"
    push_blob(world.developer, repo, empty)
    sbom = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": sha256(empty),
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/spdx+json",
                "digest": sha256(sbom_data),
                "size": len(sbom_data),
            }
        ],
        "subject": subject,
    }
    sbom_body = encode(sbom)
    assert put_manifest(world.developer, repo, sha256(sbom_body), sbom_body).status_code == 201
    assert world.get(repo, sha256(sbom_body)).status_code == 200
    envelope = b'{"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}'
    push_blob(world.developer, repo, envelope)
    att = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": sha256(empty),
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/vnd.dsse.envelope.v1+json",
                "digest": sha256(envelope),
                "size": len(envelope),
            }
        ],
    }
    att_tag = digest.replace(":", "-") + ".att"
    assert put_manifest(world.developer, repo, att_tag, encode(att)).status_code == 201
    assert world.get(repo, att_tag).status_code == 200
    assert world.get(repo, sha256(encode(att))).status_code == 200
    # The referrers list itself is not a manifest GET: always answered.
    assert world.guest.get(f"/v2/{repo}/referrers/{digest}").status_code == 200
    # A signature as an OCI 1.1 referrer: its arrival passes the image, and it passes itself.
    referrer = world.sign(repo, digest, world.trusted, referrer=True, subject=subject)
    assert world.get(repo, "v1").status_code == 200
    assert world.get(repo, referrer).status_code == 200
    # A cosign v3 signature (a sigstore bundle referrer), even by a key the project does not
    # trust: a signature, so it is served for verifiers to judge.
    bundle = sign_bundle(world.other.private, digest)
    assert (
        world.get(repo, push_bundle_referrer(world.developer, repo, subject, bundle)).status_code
        == 200
    )


def test_a_project_that_does_not_enforce_is_unaffected(
    world: World, registry: CargoholdServer
) -> None:
    _enforcing(world)
    other = f"{world.project}-open"
    accounts = Accounts(registry)
    accounts.project(other)
    accounts.member(other, f"{world.project}-developer", Role.DEVELOPER)
    accounts.close()
    digest, _ = push_image(world.developer, f"{other}/app", "v1", layers=[b"never signed"])
    response = world.developer.get(f"/v2/{other}/app/manifests/v1", headers=ACCEPT)
    assert response.status_code == 200 and response.headers["docker-content-digest"] == digest
    # Keys exist but enforcement is off: unaffected too.
    assert world.admin.get(f"/api/v1/projects/{world.project}/trust").json()["keys"]


def test_bad_input_and_who_may_change_it(world: World) -> None:
    keys = f"/api/v1/projects/{world.project}/trust/keys"
    for body in ({"pem": "not a key"}, {"pem": 3}, {"key": world.trusted.pem}, ["x"]):
        response = world.admin.post(keys, json=body)
        assert (response.status_code, error_code(response)) == (400, "KEY_INVALID"), body
    kind = "ENCRYPTED SIGSTORE PRIVATE KEY"
    private = f"-----BEGIN {kind}-----\nabc\n-----END {kind}-----\n"
    response = world.admin.post(keys, json={"pem": private})
    assert (response.status_code, error_code(response)) == (400, "KEY_INVALID")
    trust = f"/api/v1/projects/{world.project}/trust"
    for body in ({"enforce": "yes"}, {}, {"enforce": True, "more": 1}):
        response = world.admin.put(trust, json=body)
        assert (response.status_code, error_code(response)) == (400, "KEY_INVALID"), body
    response = world.admin.put(trust, content=b"{not json")
    assert (response.status_code, error_code(response)) == (400, "KEY_INVALID")
    # A developer may see the keys, not change them or the switch.
    assert world.developer.get(keys).status_code == 200
    assert world.developer.post(keys, json={"pem": world.trusted.pem}).status_code == 403
    assert world.developer.put(trust, json={"enforce": True}).status_code == 403
    assert world.admin.get(trust).json()["enforce"] is False


def _cli(world: World, tmp_path: Path, role: Role, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI, signed in as the role's user (an auth file, as `cargohold login` writes it)."""
    login = world.logins[role]
    entry = base64.b64encode(login.creds.encode()).decode()
    auth_file = tmp_path / f"{role.value}-auth.json"
    auth_file.write_text(json.dumps({"auths": {world.server.host: {"auth": entry}}}))
    return subprocess.run(
        [CARGOHOLD, *args, "--registry", world.server.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200", "REGISTRY_AUTH_FILE": str(auth_file)},
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def _one_line_error(done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert needle in done.stderr, done.stderr


def test_trust_commands(world: World, tmp_path: Path) -> None:
    project, admin = world.project, Role.PROJECT_ADMIN
    (tmp_path / "cosign.pub").write_text(world.trusted.pem)
    added = _ok(_cli(world, tmp_path, admin, "trust", "keys", "add", project, "cosign.pub"))
    assert f"{project} trusts {world.trusted.fingerprint} (ECDSA secp256r1)" in added
    listed = _ok(_cli(world, tmp_path, admin, "trust", "keys", "list", project))
    assert world.trusted.fingerprint in listed and f"{project}-project-admin" in listed
    assert "enforces signatures (1 trusted key(s))" in _ok(
        _cli(world, tmp_path, admin, "trust", "enforce", project)
    )
    shown = json.loads(_ok(_cli(world, tmp_path, admin, "trust", "show", project, "--json")))
    assert shown["enforce"] is True
    assert [k["fingerprint"] for k in shown["keys"]] == [world.trusted.fingerprint]
    repo = world.repo("cli")
    digest, _ = push_image(world.developer, repo, "v1", layers=[b"cli"])
    assert world.trusted.fingerprint in _refused_soon(world, repo, "v1")
    world.sign(repo, digest, world.trusted)
    assert world.get(repo, "v1").status_code == 200

    _one_line_error(
        _cli(world, tmp_path, Role.DEVELOPER, "trust", "keys", "add", project, "cosign.pub"),
        "DENIED: the account",
    )
    _one_line_error(
        _cli(world, tmp_path, admin, "trust", "keys", "add", project, "missing.pub"),
        "cannot read missing.pub",
    )
    (tmp_path / "bad.pub").write_text("not a key")
    _one_line_error(
        _cli(world, tmp_path, admin, "trust", "keys", "add", project, "bad.pub"), "KEY_INVALID"
    )
    fingerprint = world.trusted.fingerprint
    removed = _cli(world, tmp_path, admin, "trust", "keys", "remove", project, fingerprint)
    assert f"{project} no longer trusts {fingerprint}" in _ok(removed)
    _one_line_error(
        _cli(world, tmp_path, admin, "trust", "keys", "remove", project, fingerprint),
        "KEY_UNKNOWN",
    )
    assert "does not enforce" in _ok(
        _cli(world, tmp_path, admin, "trust", "enforce", project, "--off")
    )


def test_the_cli_signs_and_verifies_in_a_project_that_enforces(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI job pushes, then signs: the image is refused on pull until then, and `cargohold
    sign` and `verify` resolve it with HEAD, which enforcement never refuses."""
    pair = generate_key_pair(b"ci password")
    (tmp_path / "cosign.key").write_bytes(pair.private_pem)
    (tmp_path / "cosign.pub").write_bytes(pair.public_pem)
    keys = f"/api/v1/projects/{world.project}/trust/keys"
    assert world.admin.post(keys, json={"pem": pair.public_pem.decode()}).status_code == 201
    assert world.enforce(True).status_code == 200
    repo = world.repo("ci")
    digest, _ = push_image(world.developer, repo, "v1", layers=[b"built by ci"])
    _refused_soon(world, repo, "v1")
    monkeypatch.setenv("COSIGN_PASSWORD", "ci password")
    verify = ("verify", f"{repo}:v1", "--key", "cosign.pub")
    _one_line_error(_cli(world, tmp_path, Role.DEVELOPER, *verify), "no signatures found")
    signed = _ok(_cli(world, tmp_path, Role.DEVELOPER, "sign", f"{repo}:v1", "--key", "cosign.key"))
    assert f"@{digest}" in signed
    assert "1 valid signature(s) by cosign.pub" in _ok(_cli(world, tmp_path, Role.GUEST, *verify))
    _passes_soon(world, repo, "v1")
