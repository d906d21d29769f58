"""Lifecycle preview through the admin API and the CLI: ECR's answer on a real repository."""

from __future__ import annotations

import csv
import io
import json
import subprocess
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

CONFIG = b'{"architecture": "amd64"}'
BASE, L1, L2, L3 = b"base layer" * 50, b"layer one" * 40, b"layer two" * 30, b"layer three" * 20
ELSEWHERE, LOOSE, SIGNATURE = b"also in another repo" * 10, b"loose layer" * 7, b"sig" * 5

POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "keep the newest v image",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["v"],
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "keep one of everything else",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
            "action": {"type": "expire"},
        },
    ]
}


def _push_by_digest(client: httpx.Client, repo: str, document: dict[str, Any]) -> bytes:
    body = encode(document)
    response = put_manifest(client, repo, sha256(body), body, document["mediaType"])
    assert response.status_code == 201, response.text
    return body


@pytest.fixture
def scenario(client: httpx.Client, repo: str) -> dict[str, Any]:
    """v1, v2, v3, an untagged image, a tagged index with two children, a signature of v1."""
    push_image(client, f"{repo}-other", "x", config=CONFIG, layers=[ELSEWHERE])
    v1, v1_body = push_image(client, repo, "v1", config=CONFIG, layers=[BASE, L1, ELSEWHERE])
    v2, v2_body = push_image(client, repo, "v2", config=CONFIG, layers=[BASE, L2])
    v3, _ = push_image(client, repo, "v3", config=CONFIG, layers=[L3])
    loose_body = _push_by_digest(client, repo, image_manifest(client, repo, [LOOSE], CONFIG))
    children = [
        _push_by_digest(client, repo, image_manifest(client, repo, [L3, bytes([i])], CONFIG))
        for i in range(2)
    ]
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": sha256(c), "size": len(c)} for c in children
        ],
    }
    assert put_manifest(client, repo, "multi", index).status_code == 201
    signature = image_manifest(
        client,
        repo,
        [SIGNATURE],
        CONFIG,
        artifactType="application/vnd.example.signature",
        subject={"mediaType": OCI_MANIFEST, "digest": v1, "size": len(v1_body)},
    )
    signature_body = _push_by_digest(client, repo, signature)
    return {
        "v1": v1,
        "v2": v2,
        "v3": v3,
        "loose": sha256(loose_body),
        "freed": len(v1_body)
        + len(v2_body)
        + len(loose_body)
        + len(signature_body)
        + len(BASE)
        + len(L1)
        + len(L2)
        + len(LOOSE)
        + len(SIGNATURE),
    }


def test_preview_answers_like_ecr_and_counts_freed_bytes(
    client: httpx.Client, repo: str, scenario: dict[str, Any]
) -> None:
    response = client.post(
        f"/api/v1/repositories/{repo}/lifecycle/preview", content=json.dumps(POLICY)
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["repositoryName"] == repo
    assert json.loads(preview["lifecyclePolicyText"]) == POLICY
    expiring = {r["imageDigest"]: r for r in preview["previewResults"]}
    assert {d: r["appliedRulePriority"] for d, r in expiring.items()} == {
        scenario["v1"]: 1,
        scenario["v2"]: 1,
        scenario["loose"]: 2,
    }
    assert all(r["action"] == {"type": "EXPIRE"} for r in expiring.values())
    assert expiring[scenario["v1"]]["imageTags"] == ["v1"]
    assert preview["summary"] == {"expiringImageTotalCount": 3}
    # Index children and the signature are not images of their own.
    assert len(preview["images"]) == 5
    actions = {i["imageDigest"]: i["action"] for i in preview["images"]}
    assert actions[scenario["v3"]] == "KEEP"
    assert preview["dependentManifestsExpiring"] == 1
    # Shared blobs counted once; kept images' blobs and other repositories' blobs not freed.
    assert preview["bytesFreed"] == scenario["freed"]
    assert preview["warnings"] == []
    # A preview deletes nothing.
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 200


def test_preview_warns_about_and_semantics(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "develop-1", config=CONFIG, layers=[L1])
    policy = {
        "rules": [
            {
                **POLICY["rules"][0],
                "selection": {
                    **POLICY["rules"][0]["selection"],
                    "tagPrefixList": ["develop", "feature"],
                },
            }
        ]
    }
    preview = client.post(
        f"/api/v1/repositories/{repo}/lifecycle/preview", content=json.dumps(policy)
    ).json()
    assert preview["summary"]["expiringImageTotalCount"] == 0
    assert "ALL" in preview["warnings"][0]


def test_invalid_policy_and_unknown_repository(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1", config=CONFIG, layers=[L1])
    bad = {
        "rules": [
            {**POLICY["rules"][1], "rulePriority": 1},
            {**POLICY["rules"][0], "rulePriority": 2},
        ]
    }
    response = client.post(f"/api/v1/repositories/{repo}/lifecycle/preview", json=bad)
    assert (response.status_code, error_code(response)) == (400, "POLICY_INVALID")
    assert "highest rulePriority" in response.json()["errors"][0]["message"]
    response = client.post(f"/api/v1/repositories/{repo}/lifecycle/preview", content=b"{nope")
    assert (response.status_code, error_code(response)) == (400, "POLICY_INVALID")
    response = client.post(
        f"/api/v1/repositories/{repo}-none/lifecycle/preview", content=json.dumps(POLICY)
    )
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_preview_in_table_json_and_csv(
    registry: CargoholdServer, repo: str, scenario: dict[str, Any], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    common = ["lifecycle", "preview", repo, "--policy", str(policy), "--registry", registry.url]

    table = _cli(*common)
    assert table.returncode == 0, table.stderr
    assert "3 of 5 images would expire" in table.stdout

    as_json = _cli(*common, "--format", "json")
    assert json.loads(as_json.stdout)["summary"]["expiringImageTotalCount"] == 3

    as_csv = _cli(*common, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 5
    by_digest = {row["digest"]: row for row in rows}
    assert by_digest[scenario["loose"]]["action"] == "EXPIRE"
    assert by_digest[scenario["loose"]]["rule"] == "2"
    assert by_digest[scenario["loose"]]["tags"] == ""
    assert by_digest[scenario["v3"]]["action"] == "KEEP"


def test_cli_preview_errors_are_one_line(
    registry: CargoholdServer, repo: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"rules": [{"rulePriority": 0}]}))
    result = _cli("lifecycle", "preview", repo, "--policy", str(policy), "--registry", registry.url)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "POLICY_INVALID" in result.stderr
    missing = _cli("lifecycle", "preview", repo, "--policy", str(tmp_path / "nope.json"))
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr


def test_stored_policy_is_applied_with_holds_respected_and_every_deletion_audited(
    client: httpx.Client, repo: str, scenario: dict[str, Any]
) -> None:
    base = f"/api/v1/repositories/{repo}/lifecycle"
    response = client.get(base)
    assert (response.status_code, error_code(response)) == (404, "POLICY_UNKNOWN")
    response = client.post(f"{base}/apply")
    assert (response.status_code, error_code(response)) == (404, "POLICY_UNKNOWN")
    response = client.put(base, content=b'{"rules": []}')
    assert (response.status_code, error_code(response)) == (400, "POLICY_INVALID")

    stored = client.put(base, content=json.dumps(POLICY))
    assert stored.status_code == 200
    assert stored.json()["summary"]["expiringImageTotalCount"] == 3
    assert json.loads(client.get(base).json()["lifecyclePolicyText"]) == POLICY
    # An empty preview body means the stored policy.
    assert client.post(f"{base}/preview").json()["summary"]["expiringImageTotalCount"] == 3

    # Immutability does not stop a lifecycle policy (as in ECR); a hold does.
    rule = client.post(
        "/api/v1/tag-rules", json={"scope": "repository", "target": repo, "pattern": "v*"}
    ).json()
    hold = client.post(
        "/api/v1/holds",
        json={"scope": "image", "target": repo, "digest": scenario["v2"], "reason": "keep v2"},
    ).json()
    try:
        applied = client.post(f"{base}/apply").json()
    finally:
        client.delete(f"/api/v1/tag-rules/{rule['id']}")
        client.delete(f"/api/v1/holds/{hold['id']}")
    # v1 (and its signature) and the loose image go; v2 is held; v3 and the index stay.
    assert applied["deleted"] == 3
    assert sorted(applied["deletedImages"]) == sorted([scenario["v1"], scenario["loose"]])
    assert applied["skipped"] == []
    assert client.get(f"/v2/{repo}/manifests/{scenario['v1']}").status_code == 404
    assert client.get(f"/v2/{repo}/manifests/{scenario['loose']}").status_code == 404
    for kept in (scenario["v2"], scenario["v3"], "multi"):
        assert client.get(f"/v2/{repo}/manifests/{kept}").status_code == 200
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["multi", "v2", "v3"]
    events = client.get("/api/v1/audit", params={"n": 100}).json()["events"]
    deletions = [
        e for e in events if e["action"] == "manifest.delete" and e["target"].startswith(f"{repo}@")
    ]
    assert {e["target"].split("@", 1)[1] for e in deletions} >= {scenario["v1"], scenario["loose"]}
    assert all(e["detail"]["reason"] == "lifecycle policy" for e in deletions)
    assert any(e["action"] == "lifecycle.set" and e["target"] == repo for e in events)

    # Running again expires v2 now that its hold is gone, and nothing else.
    again = client.post(f"{base}/apply").json()
    assert [r["imageDigest"] for r in again["previewResults"]] == [scenario["v2"]]
    assert client.delete(base).status_code == 204
    assert client.get(base).status_code == 404


def test_cli_set_get_apply_remove(
    registry: CargoholdServer, repo: str, scenario: dict[str, Any], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    url = ["--registry", registry.url]
    assert _cli("lifecycle", "set", repo, "--policy", str(policy), *url).returncode == 0
    assert json.loads(_cli("lifecycle", "get", repo, *url).stdout) == POLICY
    stored_preview = _cli("lifecycle", "preview", repo, "--format", "json", *url)
    assert json.loads(stored_preview.stdout)["summary"]["expiringImageTotalCount"] == 3
    applied = _cli("lifecycle", "apply", repo, *url)
    assert applied.returncode == 0, applied.stderr
    assert "deleted 4 manifests" in applied.stdout
    assert _cli("lifecycle", "remove", repo, *url).returncode == 0
    gone = _cli("lifecycle", "get", repo, *url)
    assert gone.returncode == 1 and "POLICY_UNKNOWN" in gone.stderr


def test_tags_listing_and_preview_give_an_image_the_same_size(
    client: httpx.Client, repo: str
) -> None:
    """One size everywhere: the manifest, its index children and referrers (a signature
    here), and the distinct blobs they reference, each counted once."""
    signed, signed_body = push_image(client, repo, "signed", config=CONFIG, layers=[BASE, L1])
    image_manifest(client, repo, config=CONFIG, layers=[SIGNATURE])
    signature = _push_by_digest(
        client,
        repo,
        image_manifest(
            client,
            repo,
            config=CONFIG,
            layers=[SIGNATURE, BASE],  # BASE again: counted once for the signed image
            subject={"mediaType": OCI_MANIFEST, "digest": signed, "size": len(signed_body)},
        ),
    )
    expected = len(signed_body) + len(signature) + len(CONFIG) + len(BASE) + len(L1)
    expected += len(SIGNATURE)
    tags = client.get(f"/api/v1/repositories/{repo}/tags").json()["tags"]
    assert {t["tag"]: t["sizeBytes"] for t in tags} == {"signed": expected}
    preview = client.post(
        f"/api/v1/repositories/{repo}/lifecycle/preview", content=json.dumps(POLICY)
    ).json()
    sizes = {i["imageDigest"]: i["imageSizeInBytes"] for i in preview["images"]}
    assert sizes == {signed: expected}
