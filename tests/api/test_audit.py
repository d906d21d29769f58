"""The audit log through the admin API and the CLI: what each change records, the filters,
cursor pagination while entries are appended, and the JSON lines export.

Entries a change writes in its own transaction are there when the request returns; the
batched ones (pulls, denials, logins) are tested in test_audit_batched.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import httpx
import pytest

from cargohold.cli import client as cli_client
from tests.api.helpers import assert_error
from tests.support.oci import push_blob, push_image, put_manifest
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.support.times import seconds

AGENT = "audit-tests/1.0"


def _entries(client: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params={"limit": 1000, **filters})
    assert response.status_code == 200, response.text
    return response.json()["events"]  # type: ignore[no-any-return]


def _one(entries: list[dict[str, Any]], action: str) -> dict[str, Any]:
    found = [e for e in entries if e["action"] == action]
    assert len(found) == 1, (action, entries)
    return found[0]


def test_pushes_tag_moves_and_v2_deletes_are_recorded_with_their_fields(
    client: httpx.Client, repo: str
) -> None:
    client.headers["User-Agent"] = AGENT
    first, body = push_image(client, repo, "v1", layers=[b"first"])
    second, second_body = push_image(client, repo, "v1", layers=[b"second"])  # moves v1
    assert put_manifest(client, repo, "keep", body).status_code == 201
    spare = push_blob(client, repo, b"a blob nothing references")
    assert client.delete(f"/v2/{repo}/manifests/keep").status_code == 202
    assert client.delete(f"/v2/{repo}/manifests/{first}").status_code == 202
    assert client.delete(f"/v2/{repo}/blobs/{spare}").status_code == 202

    entries = _entries(client, repository=repo)
    project = repo.split("/", 1)[0]
    for entry in entries:
        # The test client signs in as the admin with a personal access token.
        assert entry["actor"] == "admin" and entry["method"] == "token", entry
        assert entry["address"] == "127.0.0.1" and entry["userAgent"] == AGENT, entry
        assert entry["project"] == project and entry["result"] == "ok", entry
        assert entry["at"].endswith("Z"), entry
    pushes = [e for e in entries if e["action"] == "manifest.push"]
    assert [(e["reference"], e["digest"], e["target"]) for e in pushes] == [
        ("keep", first, f"{repo}:keep"),
        ("v1", second, f"{repo}:v1"),
        ("v1", first, f"{repo}:v1"),
    ]
    moved = _one(entries, "tag.move")
    assert (moved["reference"], moved["digest"]) == ("v1", second)
    assert moved["detail"]["previousDigest"] == first
    untag = _one(entries, "tag.delete")
    assert (untag["reference"], untag["digest"]) == ("keep", first)
    deleted = _one(entries, "manifest.delete")
    assert (deleted["reference"], deleted["digest"]) == (first, first)
    blob = _one(entries, "blob.delete")
    assert (blob["digest"], blob["target"]) == (spare, f"{repo}@{spare}")
    # Pushing the manifest a tag points at under that tag again is a push, not a move.
    assert put_manifest(client, repo, "v1", second_body).status_code == 201
    again = _entries(client, repository=repo)
    assert [e["action"] for e in again if e["action"] in ("manifest.push", "tag.move")][:2] == [
        "manifest.push",
        "manifest.push",
    ]
    assert len([e for e in again if e["action"] == "tag.move"]) == 1


def test_admin_changes_name_their_project_or_repository(client: httpx.Client, repo: str) -> None:
    project = repo.replace("/", "-")
    rule = client.post(
        "/api/v1/tag-rules", json={"scope": "project", "target": project, "pattern": "v*"}
    )
    assert rule.status_code == 201
    hold = client.post(
        "/api/v1/holds",
        json={"scope": "repository", "target": f"{project}/app", "reason": "audit"},
    )
    assert hold.status_code == 201
    assert client.put(f"/api/v1/projects/{project}/quota", json={"limitBytes": 10**9}).is_success
    by_project = {e["action"]: e for e in _entries(client, project=project)}
    assert set(by_project) == {"tag-rule.add", "hold.add", "quota.set"}
    assert by_project["hold.add"]["repository"] == f"{project}/app"
    assert by_project["tag-rule.add"]["repository"] is None
    assert client.delete(f"/api/v1/tag-rules/{rule.json()['id']}").status_code == 204
    assert client.delete(f"/api/v1/holds/{hold.json()['id']}").status_code == 204
    actions = [e["action"] for e in _entries(client, project=project)]
    assert actions[:2] == ["hold.release", "tag-rule.remove"]


def test_filters_narrow_to_exact_matches_and_a_time_range(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1", layers=[b"filters"])
    other = f"{repo}-other"
    push_image(client, other, "v1", layers=[b"filters other"])
    mine = _entries(client, repository=repo)
    assert mine and all(e["repository"] == repo for e in mine)
    assert all(e["repository"] == other for e in _entries(client, repository=other))
    pushes = _entries(client, repository=repo, action="manifest.push")
    assert [e["reference"] for e in pushes] == ["v1"]
    assert _entries(client, repository=repo, action="tag.delete") == []
    assert _entries(client, repository=repo, actor="nobody-at-all") == []
    assert _entries(client, repository=repo, result="denied") == []
    assert len(_entries(client, repository=repo, actor="admin", result="ok")) == len(mine)

    at = seconds(pushes[0]["at"])
    # since is inclusive, until exclusive; RFC 3339 (any offset) and UNIX seconds agree.
    assert _entries(client, repository=repo, since=pushes[0]["at"], until=str(at + 1))
    assert _entries(client, repository=repo, since=str(at + 1)) == []
    assert _entries(client, repository=repo, until=pushes[0]["at"]) == []
    assert _entries(client, repository=repo, action="manifest.push", since="2000-01-01") == pushes
    assert (
        _entries(client, repository=repo, action="manifest.push", until="2000-01-01T02:00:00+02:00")
        == []
    )

    for params, parameter in (
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-01-01T00:00:00"}, "until"),  # no zone: refused, not guessed
        ({"since": "2026-02-01", "until": "2026-01-01"}, "since"),
        ({"result": "maybe"}, "result"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"format": "xml"}, "format"),
        ({"actor": "x" * 300}, "actor"),
        ({"repository": "a\x00b"}, "repository"),
    ):
        response = client.get("/api/v1/audit", params=params)
        assert_error(response, 400, "QUERY_INVALID")
        assert response.json()["errors"][0]["detail"]["parameter"] == parameter
    assert_error(
        client.get("/api/v1/audit", params={"limit": "0"}), 400, "PAGINATION_NUMBER_INVALID"
    )


def test_pages_follow_the_cursor_without_duplicates_or_gaps_while_entries_are_appended(
    client: httpx.Client, repo: str
) -> None:
    for n in range(12):
        push_image(client, repo, f"v{n}", layers=[f"page {n}".encode()])
    everything = _entries(client, repository=repo)
    assert len(everything) == 12  # a push each
    expected = [e["id"] for e in everything]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"repository": repo, "limit": 5}
        if cursor:
            params["cursor"] = cursor
        response = client.get("/api/v1/audit", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(e["id"] for e in page["events"])
        pages += 1
        # Entries written meanwhile are newer than the first page: never in a later one.
        push_image(client, repo, f"late{pages}", layers=[f"late {pages}".encode()])
        cursor = page["next"]
        if cursor is None:
            assert "link" not in response.headers
            break
        assert 'rel="next"' in response.headers["link"] and "cursor=" in response.headers["link"]
    assert pages > 2
    assert seen == expected  # newest first, each once, none skipped
    assert len(_entries(client, repository=repo)) > len(expected)


def test_jsonl_export_streams_every_matching_entry_one_per_line(
    client: httpx.Client, repo: str
) -> None:
    for n in range(3):
        push_image(client, repo, f"v{n}", layers=[f"export {n}".encode()])
    listed = _entries(client, repository=repo)
    response = client.get("/api/v1/audit", params={"repository": repo, "format": "jsonl"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert [json.loads(line) for line in lines] == listed
    capped = client.get("/api/v1/audit", params={"repository": repo, "format": "jsonl", "limit": 2})
    assert [json.loads(line) for line in capped.text.splitlines()] == listed[:2]
    # A bad filter is a plain JSON error before any line is sent.
    bad = client.get("/api/v1/audit", params={"format": "jsonl", "since": "x"})
    assert_error(bad, 400, "QUERY_INVALID")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [CARGOHOLD, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def test_cargohold_audit_filters_pages_and_exports(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    for n in range(4):
        push_image(client, repo, f"v{n}", layers=[f"cli {n}".encode()])
    listed = _entries(client, repository=repo)
    url = ("--registry", registry.url)

    shown = _cli("audit", "--repository", repo, "--json", *url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == listed
    few = _cli("audit", "--repository", repo, "--limit", "3", "--json", *url)
    assert json.loads(few.stdout) == listed[:3]
    exported = _cli("audit", "--repository", repo, "--action", "manifest.push", "--jsonl", *url)
    assert exported.returncode == 0, exported.stderr
    assert [json.loads(line) for line in exported.stdout.splitlines()] == [
        e for e in listed if e["action"] == "manifest.push"
    ]
    table = _cli("audit", "--repository", repo, "--since", "2000-01-01", *url)
    assert table.returncode == 0 and "manifest.push" in table.stdout
    bad = _cli("audit", "--since", "soon", *url)
    assert (
        bad.returncode == 1 and bad.stderr.startswith("error: ") and "Traceback" not in (bad.stderr)
    )
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_cli_follows_the_cursor_from_page_to_page(
    registry: CargoholdServer, client: httpx.Client, repo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cargohold audit` reads the log a page at a time (the server's largest, 1,000 entries)
    and follows each page's cursor: with pages of two, five pushes take several."""
    for n in range(5):
        push_image(client, repo, f"p{n}", layers=[f"page {n}".encode()])
    listed = _entries(client, repository=repo)
    assert len(listed) == 5  # one manifest.push each
    monkeypatch.setattr(cli_client, "AUDIT_PAGE", 2)
    api = cli_client.AdminClient(registry.url)
    assert list(api.audit({"repository": repo}, None)) == listed
    assert list(api.audit({"repository": repo}, 3)) == listed[:3]
    pushes = list(api.audit({"repository": repo, "action": "manifest.push"}, None))
    assert [e["reference"] for e in pushes] == [f"p{n}" for n in reversed(range(5))]
