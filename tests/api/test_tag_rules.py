"""Tag immutability and `latest` refusal through the API, the CLI and real pushes."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.oci import OCI_MANIFEST, error_code, image_manifest, push_image, put_manifest
from tests.support.server import CARGOHOLD, CargoholdServer


@pytest.fixture
def project(repo: str, client: httpx.Client) -> Iterator[str]:
    """A project of the test's own, with `v*` immutable (except release candidates)."""
    name = repo.replace("/", "-")
    response = client.post(
        "/api/v1/tag-rules",
        json={"scope": "project", "target": name, "pattern": "v*", "excludes": ["v*-rc*"]},
    )
    assert response.status_code == 201, response.text
    rule_id = response.json()["id"]
    yield name
    client.delete(f"/api/v1/tag-rules/{rule_id}")


def test_an_immutable_tag_cannot_move_or_be_deleted(client: httpx.Client, project: str) -> None:
    repo = f"{project}/app"
    digest, body = push_image(client, repo, "v1.0", layers=[b"first"])
    # Re-pushing the same digest is fine.
    assert put_manifest(client, repo, "v1.0", body, OCI_MANIFEST).status_code == 201
    other = image_manifest(client, repo, layers=[b"second"])
    response = put_manifest(client, repo, "v1.0", other)
    assert (response.status_code, error_code(response)) == (403, "DENIED")
    message = response.json()["errors"][0]["message"]
    assert "immutable" in message and "'v*'" in message and digest in message
    assert client.get(f"/v2/{repo}/manifests/v1.0").headers["Docker-Content-Digest"] == digest

    for reference in ("v1.0", digest):
        response = client.delete(f"/v2/{repo}/manifests/{reference}")
        assert (response.status_code, error_code(response)) == (403, "DENIED")
    assert client.get(f"/v2/{repo}/manifests/v1.0").status_code == 200

    # Excluded and non-matching tags stay mutable.
    for tag in ("v2.0-rc1", "dev"):
        push_image(client, repo, tag, layers=[b"a"])
        assert put_manifest(client, repo, tag, other).status_code == 201
        assert client.delete(f"/v2/{repo}/manifests/{tag}").status_code == 202


def test_racing_pushes_of_one_immutable_tag_leave_exactly_one_winner(
    registry: CargoholdServer, client: httpx.Client, project: str
) -> None:
    repo = f"{project}/race"
    bodies = [
        json.dumps(image_manifest(client, repo, layers=[f"racer {i}".encode()])).encode()
        for i in range(8)
    ]
    results: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def push(body: bytes) -> None:
        with httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=60) as http:
            barrier.wait(timeout=30)
            results.append(put_manifest(http, repo, "v9", body, OCI_MANIFEST).status_code)

    threads = [threading.Thread(target=push, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [201] + [403] * (len(bodies) - 1)


def test_latest_can_be_refused_per_project(client: httpx.Client, repo: str) -> None:
    project = repo.replace("/", "-") + "-nolatest"
    rule = client.post(
        "/api/v1/tag-rules", json={"kind": "deny-latest", "scope": "project", "target": project}
    ).json()
    try:
        response = put_manifest(
            client, f"{project}/app", "latest", image_manifest(client, f"{project}/app")
        )
        assert (response.status_code, error_code(response)) == (403, "DENIED")
        assert "'latest' is not allowed" in response.json()["errors"][0]["message"]
        push_image(client, f"{project}/app", "1.0")
    finally:
        client.delete(f"/api/v1/tag-rules/{rule['id']}")
    push_image(client, f"{project}/app", "latest")


def test_rule_changes_are_validated_and_audited(client: httpx.Client, repo: str) -> None:
    for bad, message in (
        ({"scope": "project", "target": "x", "pattern": "v(", "patternKind": "regex"}, "regex"),
        ({"scope": "nowhere", "target": "x", "pattern": "v*"}, "scope"),
        ({"scope": "project", "target": "x", "pattern": "v*", "color": "red"}, "unknown"),
        ([], "JSON object"),
    ):
        response = client.post("/api/v1/tag-rules", json=bad)
        assert (response.status_code, error_code(response)) == (400, "RULE_INVALID")
        assert message in response.json()["errors"][0]["message"]
    target = repo.replace("/", "-")
    created = client.post(
        "/api/v1/tag-rules",
        json={
            "scope": "repository",
            "target": f"{target}/svc",
            "pattern": r"\d+\.\d+",
            "patternKind": "regex",
        },
    ).json()
    assert created["id"] in {r["id"] for r in client.get("/api/v1/tag-rules").json()["rules"]}
    assert client.delete(f"/api/v1/tag-rules/{created['id']}").status_code == 204
    response = client.delete(f"/api/v1/tag-rules/{created['id']}")
    assert (response.status_code, error_code(response)) == (404, "RULE_UNKNOWN")
    events = client.get("/api/v1/audit", params={"n": 50}).json()["events"]
    mine = [e for e in events if e["target"] == f"repository:{target}/svc"]
    assert [e["action"] for e in mine] == ["tag-rule.remove", "tag-rule.add"]
    assert all(e["actor"] == "admin" and e["at"].endswith("Z") for e in mine)
    assert mine[1]["detail"]["pattern"] == r"\d+\.\d+"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_manages_rules(registry: CargoholdServer, client: httpx.Client, repo: str) -> None:
    project = repo.replace("/", "-") + "-cli"
    added = _cli(
        "policy",
        "add-immutable",
        "--project",
        project,
        "--pattern",
        "release-*",
        "--exclude",
        "release-*-draft",
        "--registry",
        registry.url,
    )
    assert added.returncode == 0, added.stderr
    rule_id = int(added.stdout.split("\t")[0])
    listed = json.loads(_cli("policy", "list", "--json", "--registry", registry.url).stdout)
    assert {"id": rule_id, "pattern": "release-*", "excludes": ["release-*-draft"]}.items() <= next(
        r for r in listed if r["id"] == rule_id
    ).items()
    push_image(client, f"{project}/app", "release-1", layers=[b"one"])
    response = put_manifest(
        client, f"{project}/app", "release-1", image_manifest(client, f"{project}/app", [b"two"])
    )
    assert response.status_code == 403
    assert _cli("policy", "remove", str(rule_id), "--registry", registry.url).returncode == 0
    audit = json.loads(_cli("audit", "--json", "--registry", registry.url).stdout)
    assert any(e["action"] == "tag-rule.remove" and e["detail"]["target"] == project for e in audit)

    both = _cli(
        "policy", "deny-latest", "--project", "a", "--repository", "a/b", "--registry", registry.url
    )
    assert both.returncode == 1 and "exactly one of" in both.stderr
    bad = _cli(
        "policy",
        "add-immutable",
        "--project",
        "a",
        "--pattern",
        "v(",
        "--regex",
        "--registry",
        registry.url,
    )
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "RULE_INVALID" in bad.stderr


def test_a_catastrophic_backtracking_rule_does_not_stall_pushes(
    fresh_registry: CargoholdServer,
) -> None:
    """`(a+)+$` over 27 a's and a dash took Python's re 10 s, 3.5 times more per 2 a's."""
    with httpx.Client(
        base_url=fresh_registry.url, auth=fresh_registry.admin_auth, timeout=30
    ) as client:
        rule = client.post(
            "/api/v1/tag-rules",
            json={
                "scope": "project",
                "target": "redos",
                "pattern": "(a+)+$",
                "patternKind": "regex",
            },
        )
        assert rule.status_code == 201, rule.text
        repo = "redos/app"
        tag = "a" * 40 + "-"
        first = image_manifest(client, repo, layers=[b"one"])
        second = image_manifest(client, repo, layers=[b"two"])
        started = time.monotonic()
        assert put_manifest(client, repo, tag, first).status_code == 201
        assert put_manifest(client, repo, tag, second).status_code == 201  # not protected
        assert put_manifest(client, repo, "a" * 127, first).status_code == 201
        assert put_manifest(client, repo, "a" * 127, second).status_code == 403  # protected
        assert client.delete(f"/v2/{repo}/manifests/{tag}").status_code == 202
        # Generous: a linear-time match is microseconds; the backtracking one was hours.
        assert time.monotonic() - started < 2.0


def test_patterns_the_regex_engine_refuses_are_rejected_at_creation(
    registry: CargoholdServer, client: httpx.Client
) -> None:
    for pattern, reason in (
        (r"(v\d)-\1", "invalid escape sequence: \\1"),  # a backreference
        (r"(?!dev).*", "invalid perl operator: (?!"),  # lookahead
        ("v" * 300, "300 characters long; at most 256 are allowed"),
    ):
        response = client.post(
            "/api/v1/tag-rules",
            json={"scope": "project", "target": "x", "pattern": pattern, "patternKind": "regex"},
        )
        assert (response.status_code, error_code(response)) == (400, "RULE_INVALID")
        assert reason in response.json()["errors"][0]["message"]
    refused = _cli(
        "policy",
        "add-immutable",
        "--project",
        "x",
        "--pattern",
        r"(v\d)-\1",
        "--regex",
        "--registry",
        registry.url,
    )
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: ") and "RULE_INVALID" in line
    assert "is not a valid regex (RE2 syntax, matched in linear time: no backreferences" in line
