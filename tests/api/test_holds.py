"""Retention holds through the API and CLI: they win over every delete and every policy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.support.oci import error_code, push_blob, push_image
from tests.support.server import CARGOHOLD, CargoholdServer

KEEP_ONE = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
            "action": {"type": "expire"},
        }
    ]
}


def _hold(client: httpx.Client, **document: object) -> dict[str, object]:
    response = client.post("/api/v1/holds", json=document)
    assert response.status_code == 201, response.text
    return response.json()


def test_an_image_hold_refuses_deletes_and_beats_the_lifecycle_policy(
    client: httpx.Client, repo: str
) -> None:
    old, _ = push_image(client, repo, "old", layers=[b"old"])
    push_image(client, repo, "new", layers=[b"new"])
    hold = _hold(client, scope="image", target=repo, digest=old, reason="case 2026-17")
    try:
        for reference in (old, "old"):
            response = client.delete(f"/v2/{repo}/manifests/{reference}")
            assert (response.status_code, error_code(response)) == (403, "DENIED")
            message = response.json()["errors"][0]["message"]
            assert f"hold {hold['id']}" in message and "case 2026-17" in message
        preview = client.post(
            f"/api/v1/repositories/{repo}/lifecycle/preview", content=json.dumps(KEEP_ONE)
        ).json()
        assert preview["summary"]["expiringImageTotalCount"] == 0
        held = next(i for i in preview["images"] if i["imageDigest"] == old)
        assert held["action"] == "KEEP" and "case 2026-17" in held["heldBy"]
    finally:
        assert client.delete(f"/api/v1/holds/{hold['id']}").status_code == 204
    assert client.delete(f"/v2/{repo}/manifests/old").status_code == 202


def test_project_and_repository_holds_cover_everything_inside(
    client: httpx.Client, repo: str
) -> None:
    project = repo.replace("/", "-") + "-legal"
    digest, _ = push_image(client, f"{project}/app", "v1")
    blob = push_blob(client, f"{project}/app", b"unreferenced")
    hold = _hold(client, scope="project", target=project, reason="litigation", until="2999-01-01")
    try:
        for path in (f"/v2/{project}/app/manifests/{digest}", f"/v2/{project}/app/blobs/{blob}"):
            response = client.delete(path)
            assert (response.status_code, error_code(response)) == (403, "DENIED")
        listed = client.get("/api/v1/holds").json()["holds"]
        assert any(h["id"] == hold["id"] and h["endsAt"] is not None for h in listed)
    finally:
        client.delete(f"/api/v1/holds/{hold['id']}")
    assert client.delete(f"/v2/{project}/app/blobs/{blob}").status_code == 202


def test_invalid_holds_and_the_audit_trail(client: httpx.Client, repo: str) -> None:
    for bad, message in (
        ({"scope": "image", "target": repo, "reason": "x"}, "needs a digest"),
        ({"scope": "repository", "target": repo, "reason": ""}, "needs a reason"),
        ({"scope": "repository", "target": repo, "reason": "x", "until": "soon"}, "ISO 8601"),
        ({"scope": "repository", "target": repo, "reason": "x", "until": "2001-01-01"}, "past"),
        ({"scope": "repository", "target": "UPPER", "reason": "x"}, "not a valid"),
    ):
        response = client.post("/api/v1/holds", json=bad)
        assert (response.status_code, error_code(response)) == (400, "HOLD_INVALID"), bad
        assert message in response.json()["errors"][0]["message"]
    hold = _hold(client, scope="repository", target=repo, reason="audit trail test")
    client.delete(f"/api/v1/holds/{hold['id']}")
    response = client.delete(f"/api/v1/holds/{hold['id']}")
    assert (response.status_code, error_code(response)) == (404, "HOLD_UNKNOWN")
    events = client.get("/api/v1/audit").json()["events"]
    actions = [e["action"] for e in events if e["target"] == f"repository:{repo}"]
    assert actions[:2] == ["hold.release", "hold.add"]


def test_cli_hold_commands(
    registry: CargoholdServer, client: httpx.Client, repo: str, tmp_path: Path
) -> None:
    digest, _ = push_image(client, repo, "v1")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CARGOHOLD, *args, "--registry", registry.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    added = cli("hold", "add", "--image", f"{repo}@{digest}", "--reason", "INC-42")
    assert added.returncode == 0, added.stderr
    hold_id = int(added.stdout.split("\t")[0])
    assert "INC-42" in cli("hold", "list").stdout
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 403
    assert cli("hold", "release", str(hold_id)).returncode == 0
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    wrong = cli("hold", "add", "--image", repo, "--reason", "x")
    assert wrong.returncode == 1 and "REPOSITORY@DIGEST" in wrong.stderr
    none = cli("hold", "add", "--reason", "x")
    assert none.returncode == 1 and "exactly one of" in none.stderr
