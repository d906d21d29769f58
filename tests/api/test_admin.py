"""The admin API under /api/v1/, pull-time recording, and the CLI that reads it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.oci import error_code, push_image
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.support.times import seconds as _seconds


def _tag_row(client: httpx.Client, repo: str, tag: str) -> dict[str, object]:
    response = client.get(f"/api/v1/repositories/{repo}/tags")
    assert response.status_code == 200
    rows = {row["tag"]: row for row in response.json()["tags"]}
    return rows[tag]


def test_openapi_document_describes_the_admin_api(client: httpx.Client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert {
        "/api/v1/system",
        "/api/v1/repositories",
        "/api/v1/repositories/{name}/tags",
        "/api/v1/repositories/{name}/lifecycle/preview",
        "/api/v1/tag-rules",
        "/api/v1/audit",
    } <= set(document["paths"])


def test_system_info_counts(registry: CargoholdServer, client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    info = client.get("/api/v1/system").json()
    assert info["version"]
    assert info["storage"]["driver"] == registry.settings().storage_driver
    assert info["metadata"]["dialect"] in ("sqlite", "postgresql")
    assert info["counts"]["repositories"] >= 1
    assert info["counts"]["blobBytes"] > 0
    assert isinstance(info["jobs"]["pending"], int) and info["jobs"]["pending"] >= 0


def test_repositories_and_tags_with_sizes_and_push_time(client: httpx.Client, repo: str) -> None:
    before = time.time()
    digest, body = push_image(client, repo, "v1", layers=[b"x" * 1000, b"y" * 500])
    rows = []
    last = None
    while True:
        params: dict[str, object] = {"n": 100} if last is None else {"n": 100, "last": last}
        response = client.get("/api/v1/repositories", params=params)
        page = response.json()["repositories"]
        rows += page
        if "Link" not in response.headers:
            break
        last = page[-1]["name"]
    summary = {row["name"]: row for row in rows}[repo]
    assert summary["manifests"] == 1 and summary["tags"] == 1
    config_size = len(b'{"architecture": "amd64"}')
    assert summary["sizeBytes"] == 1500 + config_size + len(body)

    row = _tag_row(client, repo, "v1")
    assert row["digest"] == digest
    assert row["sizeBytes"] == 1500 + config_size + len(body)
    assert row["pushedAt"].endswith("Z")  # RFC 3339 in UTC (docs/api.md)
    assert before - 1 <= _seconds(row["pushedAt"]) <= time.time() + 1
    assert summary["lastPushedAt"] == row["pushedAt"]
    assert row["lastPulledAt"] is None


def test_unknown_repository_tags_is_name_unknown(client: httpx.Client, repo: str) -> None:
    response = client.get(f"/api/v1/repositories/{repo}/tags")
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")


def test_pulls_are_recorded_in_batches_but_heads_are_not(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "pulled", layers=[b"pulled"])
    push_image(client, repo, "headed", layers=[b"headed"])
    assert client.head(f"/v2/{repo}/manifests/headed").status_code == 200
    pulled_at = time.time()
    assert client.get(f"/v2/{repo}/manifests/pulled").status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _tag_row(client, repo, "pulled")["lastPulledAt"] is not None:
            break
        time.sleep(0.25)
    recorded = _tag_row(client, repo, "pulled")["lastPulledAt"]
    assert recorded is not None and abs(_seconds(recorded) - pulled_at) < 5
    assert _tag_row(client, repo, "headed")["lastPulledAt"] is None


def test_pull_times_survive_a_clean_shutdown(tmp_path: Path) -> None:
    # Flushing once an hour: only the shutdown flush can save the pull time.
    server = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_PULL_FLUSH_SECONDS": "3600"}
    ).start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth) as http:
            push_image(http, "team/app", "v1")
            assert http.get("/v2/team/app/manifests/v1").status_code == 200
        server.restart()
        with httpx.Client(base_url=server.url, auth=server.admin_auth) as http:
            assert _tag_row(http, "team/app", "v1")["lastPulledAt"] is not None
    finally:
        server.stop()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_reads_the_admin_api(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(client, repo, "v1")
    result = _cli("tags", repo, "--registry", registry.url, "--json")
    assert result.returncode == 0, result.stderr
    assert [row["digest"] for row in json.loads(result.stdout)] == [digest]
    result = _cli("tags", repo, "--registry", registry.url)
    assert result.returncode == 0 and "v1" in result.stdout
    result = _cli("repos", "--registry", registry.url, "--json")
    assert repo in {row["name"] for row in json.loads(result.stdout)}
    result = _cli("info", "--registry", registry.url)
    assert result.returncode == 0 and "repositories" in result.stdout


def test_cli_errors_are_one_line_and_non_zero(registry: CargoholdServer, repo: str) -> None:
    result = _cli("tags", repo, "--registry", registry.url)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "NAME_UNKNOWN" in result.stderr
    result = _cli("repos", "--registry", "http://127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach")
    assert "Traceback" not in result.stderr
