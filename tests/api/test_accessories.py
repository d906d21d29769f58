"""Signatures are accessories of their image: `cargohold sign` (the real CLI) against a real
server, then what a user sees and relies on: the tags listing shows signed/unsigned instead of
`.sig` tags, lifecycle keeps and expires a `.sig` with its image and never counts it as an
image, untagged GC and a DELETE by digest take it with its image (a DELETE by digest also every
referrer of it, transitively), a hold on the image covers it, an immutable `*` rule still lets
an image be signed again, and the image's size includes it. OCI 1.1 signatures
(`--referrer`) behave the same.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    encode,
    error_code,
    image_manifest,
    push_image,
    put_manifest,
    sha256,
)
from tests.support.server import CARGOHOLD, CargoholdServer

PASSWORD = "accessories test password"
KEEP = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 2},
            "action": {"type": "expire"},
        }
    ]
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("keys")
    for prefix in ("cosign", "other"):
        done = subprocess.run(
            [CARGOHOLD, "generate-key-pair", "--output-key-prefix", prefix],
            cwd=home,
            env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def client(registry_without_grace: CargoholdServer) -> Iterator[httpx.Client]:
    with registry_without_grace.client(timeout=60) as http:
        yield http


def _cli(server: CargoholdServer, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, *args],
        cwd=home,
        env={**server.cli_env, "COSIGN_PASSWORD": PASSWORD, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _sign(server: CargoholdServer, home: Path, image: str, *extra: str) -> None:
    host = server.url.split("://", 1)[1]
    done = _cli(server, home, "sign", f"{host}/{image}", "--key", "cosign.key", *extra)
    assert done.returncode == 0, done.stderr


def _sig(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def _tags(client: httpx.Client, repo: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/v1/repositories/{repo}/tags")
    assert response.status_code == 200, response.text
    return {row["tag"]: row for row in response.json()["tags"]}


def _head(client: httpx.Client, repo: str, reference: str) -> httpx.Response:
    return client.head(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})


def _exists(client: httpx.Client, repo: str, reference: str) -> bool:
    return _head(client, repo, reference).status_code == 200


def _gc_untagged(client: httpx.Client) -> None:
    response = client.post("/api/v1/gc", params={"untagged": "true"}, timeout=120)
    assert response.status_code == 200, response.text
    assert json.loads(response.text.strip().splitlines()[-1])["event"] == "done"


def _preview(client: httpx.Client, repo: str, policy: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/repositories/{repo}/lifecycle/preview", content=json.dumps(policy)
    )
    assert response.status_code == 200, response.text
    return response.json()


def _keep(count: int) -> dict[str, Any]:
    policy = json.loads(json.dumps(KEEP))
    policy["rules"][0]["selection"]["countNumber"] = count
    return policy


def test_the_tags_listing_shows_signed_images_not_sig_tags(
    registry_without_grace: CargoholdServer, client: httpx.Client, repo: str, keys: Path
) -> None:
    signed, _ = push_image(client, repo, "v1", layers=[b"signed layer" * 30])
    unsigned, _ = push_image(client, repo, "v2", layers=[b"unsigned layer" * 30])
    size_before = _tags(client, repo)["v1"]["sizeBytes"]
    _sign(registry_without_grace, keys, f"{repo}:v1")
    _sign(registry_without_grace, keys, f"{repo}:v1", "-a", "run=2")
    rows = _tags(client, repo)
    assert set(rows) == {"v1", "v2"}, "the .sig tag is not a tag of its own"
    assert rows["v1"]["signed"] and rows["v1"]["signatures"] == 2
    assert [(a["kind"], a["tag"]) for a in rows["v1"]["accessories"]] == [
        ("signature", _sig(signed))
    ]
    assert rows["v1"]["verifiedKeys"] is None
    assert not rows["v2"]["signed"] and rows["v2"]["signatures"] == 0
    # The image's size counts its signature manifest and layers.
    assert rows["v1"]["sizeBytes"] > size_before
    # The OCI tags list still has every tag (cosign and skopeo read the .sig tag from it).
    assert _sig(signed) in client.get(f"/v2/{repo}/tags/list").json()["tags"]

    shown = _cli(registry_without_grace, keys, "tags", repo, "--registry", client_url(client))
    assert shown.returncode == 0, shown.stderr
    lines = {tag: _row(shown.stdout, tag) for tag in ("v1", "v2")}
    assert "signed (2)" in lines["v1"] and "unsigned" in lines["v2"]
    assert ".sig" not in shown.stdout
    for key, expected in (("cosign.pub", "by cosign.pub"), ("other.pub", "none by the key")):
        verified = _cli(
            registry_without_grace, keys, "tags", repo, "--registry", client_url(client),
            "--key", key,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
        assert expected in _row(verified.stdout, "v1")
    # A bare HOST:PORT is the server over plain HTTP, for the verification too.
    bare = _cli(
        registry_without_grace, keys, "tags", repo, "--registry", registry_without_grace.host,
        "--key", "cosign.pub",
    )  # fmt: skip
    assert bare.returncode == 0, bare.stderr
    assert "by cosign.pub" in _row(bare.stdout, "v1")
    as_json = _cli(
        registry_without_grace, keys, "tags", repo, "--registry", client_url(client),
        "--key", "cosign.pub", "--json",
    )  # fmt: skip
    documents = {row["tag"]: row for row in json.loads(as_json.stdout)}
    assert documents["v1"]["keysVerified"] == ["cosign.pub"]
    assert documents["v2"]["keysVerified"] == [] and unsigned == documents["v2"]["digest"]


def _row(table: str, tag: str) -> str:
    return next(line for line in table.splitlines() if f" {tag} " in line)


def client_url(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


@pytest.mark.parametrize("shape", ["sig-tag", "referrer"])
def test_lifecycle_keeps_and_expires_a_signature_with_its_image(
    registry_without_grace: CargoholdServer,
    client: httpx.Client,
    repo: str,
    keys: Path,
    shape: str,
) -> None:
    old, _ = push_image(client, repo, "old", layers=[b"old image" * 30])
    push_image(client, repo, "new", layers=[b"new image" * 30])
    extra = ("--referrer",) if shape == "referrer" else ()
    _sign(registry_without_grace, keys, f"{repo}:old", *extra)
    # Keep two images: the signature is not a third one that would push `old` out.
    preview = _preview(client, repo, _keep(2))
    assert preview["summary"]["expiringImageTotalCount"] == 0
    assert sorted(tuple(i["imageTags"]) for i in preview["images"]) == [("new",), ("old",)]
    kept = next(i for i in preview["images"] if i["imageDigest"] == old)
    assert kept["action"] == "KEEP"
    if shape == "sig-tag":
        assert kept["accessoryTags"] == [_sig(old)]
    # Keep one: `old` goes, and its signature with it.
    assert client.put(f"/api/v1/repositories/{repo}/lifecycle", json=_keep(1)).status_code == 200
    applied = client.post(f"/api/v1/repositories/{repo}/lifecycle/apply")
    assert applied.status_code == 200, applied.text
    assert not _exists(client, repo, old)
    assert not _exists(client, repo, _sig(old))
    referrers = client.get(f"/v2/{repo}/referrers/{old}").json()["manifests"]
    assert referrers == []
    assert set(_tags(client, repo)) == {"new"}


@pytest.mark.parametrize("shape", ["sig-tag", "referrer"])
def test_untagged_gc_takes_the_signature_with_its_image(
    registry_without_grace: CargoholdServer,
    client: httpx.Client,
    repo: str,
    keys: Path,
    shape: str,
) -> None:
    push_image(client, repo, "keep", layers=[b"tagged" * 30])
    body = encode(image_manifest(client, repo, [b"untagged image" * 30], b"{}"))
    digest = sha256(body)
    assert put_manifest(client, repo, digest, body, OCI_MANIFEST).status_code == 201
    extra = ("--referrer",) if shape == "referrer" else ()
    _sign(registry_without_grace, keys, f"{repo}@{digest}", *extra)
    _gc_untagged(client)
    assert not _exists(client, repo, digest)
    assert not _exists(client, repo, _sig(digest))
    assert client.get(f"/v2/{repo}/referrers/{digest}").json()["manifests"] == []
    assert set(_tags(client, repo)) == {"keep"}


def test_deleting_an_image_by_digest_deletes_its_sig_tag_audited(
    registry_without_grace: CargoholdServer, client: httpx.Client, repo: str, keys: Path
) -> None:
    digest, _ = push_image(client, repo, "v1", layers=[b"to delete" * 30])
    _sign(registry_without_grace, keys, f"{repo}:v1")
    sig_digest = client.head(f"/v2/{repo}/manifests/{_sig(digest)}").headers[
        "docker-content-digest"
    ]
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert not _exists(client, repo, _sig(digest))
    assert _sig(digest) not in (client.get(f"/v2/{repo}/tags/list").json()["tags"] or [])
    events = client.get("/api/v1/audit", params={"repository": repo}).json()["events"]
    deleted = [e for e in events if e["action"] == "manifest.delete"]
    accessory = next(e for e in deleted if e["digest"] == sig_digest)
    assert accessory["detail"]["reason"] == f"accessory of {digest}"


def _referrer(client: httpx.Client, repo: str, subject: str, note: str, tag: str = "") -> str:
    """Push an artifact whose `subject` is `subject` (by digest, or under `tag`)."""
    size = int(_head(client, repo, subject).headers["content-length"])
    body = encode(
        image_manifest(
            client,
            repo,
            layers=[note.encode() * 20],
            artifactType="application/vnd.example.note",
            subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
        )
    )
    assert put_manifest(client, repo, tag or sha256(body), body, OCI_MANIFEST).status_code == 201
    return sha256(body)


@pytest.mark.parametrize("shape", ["cosign", "artifacts"])
def test_deleting_an_image_by_digest_deletes_its_referrers_audited(
    registry_without_grace: CargoholdServer,
    client: httpx.Client,
    repo: str,
    keys: Path,
    shape: str,
) -> None:
    """What refers to an image (by `subject`), and what refers to those, goes with it; a
    tagged referrer is an image of its own and stays, and so do other images' referrers."""
    digest, _ = push_image(client, repo, "v1", layers=[b"goes" * 30])
    other, _ = push_image(client, repo, "v2", layers=[b"stays" * 30])
    if shape == "cosign":
        _sign(registry_without_grace, keys, f"{repo}:v1", "--referrer")
        _sign(registry_without_grace, keys, f"{repo}:v2", "--referrer")
        going = [
            m["digest"] for m in client.get(f"/v2/{repo}/referrers/{digest}").json()["manifests"]
        ]
        staying = [
            m["digest"] for m in client.get(f"/v2/{repo}/referrers/{other}").json()["manifests"]
        ]
        assert len(going) == 1 and len(staying) == 1
    else:
        sbom = _referrer(client, repo, digest, "sbom")
        going = [sbom, _referrer(client, repo, sbom, "signature of the sbom")]
        staying = [
            _referrer(client, repo, digest, "tagged", tag="release-notes"),
            _referrer(client, repo, other, "of another image"),
        ]
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert not any(_exists(client, repo, gone) for gone in [digest, *going])
    assert all(_exists(client, repo, kept) for kept in [other, *staying])
    events = client.get("/api/v1/audit", params={"repository": repo}).json()["events"]
    reasons = {
        e["digest"]: e["detail"].get("reason") for e in events if e["action"] == "manifest.delete"
    }
    assert reasons[going[0]] == f"referrer of {digest}"
    assert all(reasons[gone] == f"referrer of {digest}" for gone in going)
    assert not set(staying) & set(reasons)


def _index(client: httpx.Client, repo: str, tag: str, children: list[str]) -> str:
    """Push an index listing `children` (manifests of the repository) under `tag`."""
    listed = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": child,
            "size": int(_head(client, repo, child).headers["content-length"]),
        }
        for child in children
    ]
    body = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed})
    assert put_manifest(client, repo, tag, body, OCI_INDEX).status_code == 201
    return sha256(body)


def test_a_referrers_own_signature_goes_and_one_a_staying_index_lists_stays(
    client: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(client, repo, "v1", layers=[b"image" * 30])
    sbom = _referrer(client, repo, digest, "sbom")
    # cosign's tag scheme on the SBOM itself: an accessory of the referrer.
    sbom_sig, _ = push_image(client, repo, _sig(sbom), layers=[b"cosign signature" * 20])
    bundled = _referrer(client, repo, digest, "kept in a bundle")
    bundle = _index(client, repo, "bundle", [bundled])
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert not any(_exists(client, repo, gone) for gone in (digest, sbom, sbom_sig))
    assert _sig(sbom) not in (client.get(f"/v2/{repo}/tags/list").json()["tags"] or [])
    assert _exists(client, repo, bundled) and _exists(client, repo, bundle)


def test_a_hold_on_a_referrer_or_its_image_covers_the_other(
    client: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(client, repo, "v1", layers=[b"subject" * 30])
    sbom = _referrer(client, repo, digest, "sbom")
    signature = _referrer(client, repo, sbom, "signature of the sbom")
    # The referrers tag schema's index (what cosign v3 writes where there is no referrers
    # API): an accessory of the image that lists its referrers; it goes with the image.
    _index(client, repo, digest.replace(":", "-"), [sbom])
    cases = ((signature, digest), (sbom, digest), (digest, sbom), (digest, signature))
    for held, deleted in cases:
        hold = client.post(
            "/api/v1/holds",
            json={"scope": "image", "target": repo, "digest": held, "reason": "evidence"},
        ).json()
        try:
            refused = client.delete(f"/v2/{repo}/manifests/{deleted}")
            assert (refused.status_code, error_code(refused)) == (403, "DENIED")
            assert f"hold {hold['id']}" in refused.json()["errors"][0]["message"]
            assert all(_exists(client, repo, kept) for kept in (digest, sbom, signature))
        finally:
            assert client.delete(f"/api/v1/holds/{hold['id']}").status_code == 204
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert not any(_exists(client, repo, gone) for gone in (digest, sbom, signature))


def test_a_hold_on_the_image_covers_its_signature(
    registry_without_grace: CargoholdServer, client: httpx.Client, repo: str, keys: Path
) -> None:
    digest, _ = push_image(client, repo, "v1", layers=[b"held" * 30])
    push_image(client, repo, "v2", layers=[b"newer" * 30])
    _sign(registry_without_grace, keys, f"{repo}:v1")
    hold = client.post(
        "/api/v1/holds", json={"scope": "image", "target": repo, "digest": digest, "reason": "x"}
    ).json()
    try:
        refused = client.delete(f"/v2/{repo}/manifests/{_sig(digest)}")
        assert (refused.status_code, error_code(refused)) == (403, "DENIED")
        assert f"hold {hold['id']}" in refused.json()["errors"][0]["message"]
        assert client.put(f"/api/v1/repositories/{repo}/lifecycle", json=_keep(1)).status_code
        applied = client.post(f"/api/v1/repositories/{repo}/lifecycle/apply").json()
        assert next(i for i in applied["images"] if i["imageDigest"] == digest)["heldBy"]
        assert _exists(client, repo, digest) and _exists(client, repo, _sig(digest))
    finally:
        assert client.delete(f"/api/v1/holds/{hold['id']}").status_code == 204


def test_an_immutable_star_rule_lets_images_be_signed_again_but_guards_other_tags(
    registry_without_grace: CargoholdServer, client: httpx.Client, repo: str, keys: Path
) -> None:
    digest, _ = push_image(client, repo, "v1", layers=[b"immutable" * 30])
    rule = client.post(
        "/api/v1/tag-rules",
        json={"kind": "immutable", "scope": "repository", "target": repo, "pattern": "*"},
    )
    assert rule.status_code == 201, rule.text
    try:
        _sign(registry_without_grace, keys, f"{repo}:v1")
        _sign(registry_without_grace, keys, f"{repo}:v1", "-a", "again=1")
        assert _tags(client, repo)["v1"]["signatures"] == 2
        # A tag of that form naming no image here is an ordinary, immutable tag; so is any
        # tag that only looks like one.
        absent = "sha256:" + "0" * 64
        for tag in (_sig(absent), _sig(digest) + "x", "x" + _sig(digest)):
            first = image_manifest(client, repo, [b"one" + tag.encode()], b"{}")
            assert put_manifest(client, repo, tag, first).status_code == 201
            second = image_manifest(client, repo, [b"two" + tag.encode()], b"{}")
            refused = put_manifest(client, repo, tag, second)
            assert (refused.status_code, error_code(refused)) == (403, "DENIED"), tag
        # The image's own tag stays immutable, and the image cannot be deleted with it.
        other, _ = push_image(client, f"{repo}-src", "x", layers=[b"other" * 30])
        refused = client.delete(f"/v2/{repo}/manifests/v1")
        assert (refused.status_code, error_code(refused)) == (403, "DENIED")
        assert other
    finally:
        client.delete(f"/api/v1/tag-rules/{rule.json()['id']}")
