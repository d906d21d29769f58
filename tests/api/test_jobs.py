"""Background jobs through the API and the CLI: gc and lifecycle runs, scheduled or on demand."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import wait_for_job
from tests.support.oci import error_code, push_blob, push_image
from tests.support.redis import RedisServer
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.support.times import seconds

KEEP_ONE_V = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "keep the newest v image",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["v*"],
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        }
    ]
}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [CARGOHOLD, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def test_lifecycle_job_applies_stored_policies(client: httpx.Client, repo: str) -> None:
    digests = [
        push_image(client, repo, f"v{n}", layers=[f"{repo} {n}".encode()])[0] for n in (1, 2, 3)
    ]
    assert client.put(f"/api/v1/repositories/{repo}/lifecycle", json=KEEP_ONE_V).status_code == 200

    queued = client.post("/api/v1/jobs", json={"kind": "lifecycle", "args": {"repository": repo}})
    assert queued.status_code == 202, queued.text
    assert queued.json()["state"] in ("queued", "running", "succeeded")
    job = wait_for_job(client, queued.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["trigger"] == "api" and job["args"] == {"repository": repo}
    assert job["result"]["repositories"][repo]["deleted"] == 2
    assert job["result"]["repositories"][repo]["skipped"] == []
    assert seconds(job["startedAt"]) <= seconds(job["finishedAt"])
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v3"]
    assert client.get(f"/v2/{repo}/manifests/{digests[0]}").status_code == 404

    # With no repository, every repository that has a policy is visited (this one included).
    job = wait_for_job(client, client.post("/api/v1/jobs", json={"kind": "lifecycle"}).json()["id"])
    assert job["state"] == "succeeded"
    assert job["result"]["repositories"][repo] == {
        "expired": 0,
        "deleted": 0,
        "bytesFreed": 0,
        "skipped": [],
    }

    listed = client.get("/api/v1/jobs", params={"kind": "lifecycle", "n": 500}).json()["jobs"]
    assert job["id"] in [j["id"] for j in listed]
    assert all(j["kind"] == "lifecycle" for j in listed)


def test_a_failing_job_records_its_error(client: httpx.Client) -> None:
    queued = client.post(
        "/api/v1/jobs", json={"kind": "lifecycle", "args": {"repository": "no/such-repo"}}
    )
    job = wait_for_job(client, queued.json()["id"])
    assert job["state"] == "failed"
    assert job["error"] == "repository name not known to registry"
    failed = client.get("/api/v1/jobs", params={"state": "failed", "n": 500}).json()["jobs"]
    assert job["id"] in [j["id"] for j in failed]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"kind": "compact"}',
            "unknown job kind 'compact'; known kinds: audit-purge, gc, lifecycle, reevaluate,"
            " scan, signature-verdicts, vulndb-update",
        ),
        (b'{"kind": "gc", "args": {"force": true}}', "job 'gc' takes no argument 'force'"),
        (
            b'{"kind": "gc", "args": {"untagged": "yes"}}',
            "job 'gc': 'untagged' must be a boolean, got 'yes'",
        ),
        (b'{"kind": "gc", "args": []}', "args must be a JSON object"),
        (b'["gc"]', 'the body must be a JSON object like {"kind": "gc", "args": {}}'),
        (b"gc please", "the body must be a JSON object describing the job"),
    ],
)
def test_invalid_job_requests(client: httpx.Client, body: bytes, message: str) -> None:
    response = client.post("/api/v1/jobs", content=body)
    assert (response.status_code, error_code(response)) == (400, "JOB_INVALID")
    assert response.json()["errors"][0]["message"].startswith(message)


DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("job", "message"),
    [
        # gc
        ({"kind": "gc", "args": {"dryRun": 1}}, "job 'gc': 'dryRun' must be a boolean, got 1"),
        (
            {"kind": "gc", "args": {"repository": "a/b"}},
            "job 'gc' takes no argument 'repository' (arguments: dryRun, untagged)",
        ),
        # lifecycle
        (
            {"kind": "lifecycle", "args": {"repository": 7}},
            "job 'lifecycle': 'repository' must be a string, got 7",
        ),
        (
            {"kind": "lifecycle", "args": {"repository": "No Such/Name"}},
            "job 'lifecycle': 'repository': 'No Such/Name' is not a valid repository name",
        ),
        (
            {"kind": "lifecycle", "args": {"repo": "a/b"}},
            "job 'lifecycle' takes no argument 'repo' (arguments: repository)",
        ),
        # scan
        ({"kind": "scan", "args": {}}, "job 'scan' needs the argument(s) 'repository', 'digest'"),
        ({"kind": "scan"}, "job 'scan' needs the argument(s) 'repository', 'digest'"),
        (
            {"kind": "scan", "args": {"repository": "a/b"}},
            "job 'scan' needs the argument(s) 'digest'",
        ),
        (
            {"kind": "scan", "args": {"repository": "a/b", "digest": "latest"}},
            "job 'scan': 'digest': 'latest' is not a digest like sha256:<64 hex digits>",
        ),
        (
            {"kind": "scan", "args": {"repository": ["a/b"], "digest": DIGEST}},
            "job 'scan': 'repository' must be a string, got ['a/b']",
        ),
        (
            {"kind": "scan", "args": {"repository": "a/b", "digest": DIGEST, "rescan": "no"}},
            "job 'scan': 'rescan' must be a boolean, got 'no'",
        ),
        (
            {"kind": "scan", "args": {"repository": "a/b", "digest": DIGEST, "tag": "v1"}},
            "job 'scan' takes no argument 'tag' (arguments: digest, repository, rescan)",
        ),
        # vulndb-update and reevaluate take nothing
        (
            {"kind": "vulndb-update", "args": {"source": "x.zip"}},
            "job 'vulndb-update' takes no argument 'source' (arguments: none)",
        ),
        (
            {"kind": "reevaluate", "args": {"all": True}},
            "job 'reevaluate' takes no argument 'all' (arguments: none)",
        ),
        # the request itself
        (
            {"kind": "gc", "arguments": {}},
            "unknown field(s) arguments: a job has a kind and args",
        ),
    ],
)
def test_job_arguments_are_checked_when_submitted(
    client: httpx.Client, job: dict[str, Any], message: str
) -> None:
    before = {j["id"] for j in client.get("/api/v1/jobs", params={"n": 500}).json()["jobs"]}
    response = client.post("/api/v1/jobs", json=job)
    assert (response.status_code, error_code(response)) == (400, "JOB_INVALID")
    assert response.json()["errors"][0]["message"] == message
    after = {j["id"] for j in client.get("/api/v1/jobs", params={"n": 500}).json()["jobs"]}
    assert after == before  # nothing was queued


def test_a_scan_job_with_its_arguments_runs(client: httpx.Client, repo: str) -> None:
    digest, _ = push_image(client, repo, "v1", layers=[b"a layer"])
    queued = client.post(
        "/api/v1/jobs", json={"kind": "scan", "args": {"repository": repo, "digest": digest}}
    )
    assert queued.status_code == 202, queued.text
    assert wait_for_job(client, queued.json()["id"])["state"] == "succeeded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan"], "job 'scan' needs the argument(s) 'repository', 'digest'"),
        (["scan", "--repository", "a/b"], "job 'scan' needs the argument(s) 'digest'"),
        (
            ["scan", "--repository", "a/b", "--digest", "v1"],
            "job 'scan': 'digest': 'v1' is not a digest like sha256:<64 hex digits>",
        ),
        (
            ["lifecycle", "--repository", "Bad Name"],
            "job 'lifecycle': 'repository': 'Bad Name' is not a valid repository name",
        ),
        (["lifecycle", "--untagged"], "job 'lifecycle' takes no argument 'untagged'"),
        (["gc", "--digest", DIGEST], "job 'gc' takes no argument 'digest'"),
        (["vulndb-update", "--rescan"], "job 'vulndb-update' takes no argument 'rescan'"),
        (["reevaluate", "--dry-run"], "job 'reevaluate' takes no argument 'dryRun'"),
    ],
)
def test_cli_refuses_bad_job_arguments_in_one_line(
    registry: CargoholdServer, args: list[str], message: str
) -> None:
    done = _cli("jobs", "run", *args, "--registry", registry.url)
    assert done.returncode == 1
    assert done.stdout == ""  # nothing was queued
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "JOB_INVALID: " + message in line


def test_unknown_job_and_filters(client: httpx.Client) -> None:
    response = client.get("/api/v1/jobs/0123456789abcdef")
    assert (response.status_code, error_code(response)) == (404, "JOB_UNKNOWN")
    response = client.get("/api/v1/jobs", params={"state": "stuck"})
    assert (response.status_code, error_code(response)) == (400, "JOB_INVALID")
    response = client.get("/api/v1/jobs", params={"kind": "compact"})
    assert (response.status_code, error_code(response)) == (400, "JOB_INVALID")


def test_cli_runs_waits_lists_and_shows(registry: CargoholdServer, repo: str) -> None:
    url = ["--registry", registry.url]
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as client:
        for n in (1, 2):
            push_image(client, repo, f"v{n}", layers=[f"{repo} cli {n}".encode()])
        client.put(f"/api/v1/repositories/{repo}/lifecycle", json=KEEP_ONE_V)
    done = _cli("jobs", "run", "lifecycle", "--repository", repo, "--wait", *url)
    assert done.returncode == 0, done.stderr
    queued_line, outcome = done.stdout.strip().splitlines()
    job_id = queued_line.rsplit(" ", 1)[1]
    assert outcome.startswith("succeeded: 1 repositories, 1 images deleted, ")

    shown = _cli("jobs", "show", job_id, *url)
    assert json.loads(shown.stdout)["result"]["repositories"][repo]["deleted"] == 1
    listed = json.loads(
        _cli("jobs", "list", "--kind", "lifecycle", "-n", "500", "--json", *url).stdout
    )
    assert job_id in [j["id"] for j in listed]
    table = _cli("jobs", "list", "-n", "5", *url)
    assert table.returncode == 0 and job_id[:12] in table.stdout

    failed = _cli("jobs", "run", "lifecycle", "--repository", "no/such", "--wait", *url)
    assert failed.returncode == 1
    assert "failed: repository name not known to registry" in failed.stdout
    unknown = _cli("jobs", "run", "compact", *url)
    assert unknown.returncode == 1
    [line] = unknown.stderr.strip().splitlines()
    assert line.startswith("error: ") and line.endswith(
        "/api/v1/jobs: JOB_INVALID: unknown job kind 'compact'; known kinds: audit-purge, gc,"
        " lifecycle, reevaluate, scan, signature-verdicts, vulndb-update"
    )


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_scheduled_gc_runs_once_per_minute_on_a_redis_queue(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Both server processes run the scheduler; `* * * * *` fires at start, once per minute."""
    server = CargoholdServer(
        tmp_path / "data",
        extra_env={
            "CARGOHOLD_JOB_STORE": redis_server.url,
            "CARGOHOLD_GC_SCHEDULE": "* * * * *",
            "CARGOHOLD_LIFECYCLE_SCHEDULE": "off",
            "CARGOHOLD_GC_GRACE_SECONDS": "0",
        },
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
            deadline = time.monotonic() + 30
            scheduled: list[dict[str, Any]] = []
            while not scheduled or any(j["state"] != "succeeded" for j in scheduled):
                assert time.monotonic() < deadline, scheduled
                time.sleep(0.2)
                jobs = client.get("/api/v1/jobs", params={"kind": "gc"}).json()["jobs"]
                scheduled = [j for j in jobs if j["trigger"] == "schedule"]
            minutes = {int(seconds(j["createdAt"]) // 60) for j in scheduled}
            assert len(scheduled) == len(minutes), scheduled
            assert all(j["createdBy"] == "schedule" for j in scheduled)

            # An on-demand gc through the same Redis queue frees an unreferenced blob.
            orphan = push_blob(client, "team/app", b"nobody references me" * 10)
            time.sleep(0.05)
            job = wait_for_job(
                client, client.post("/api/v1/jobs", json={"kind": "gc"}).json()["id"]
            )
            assert job["state"] == "succeeded", job
            assert job["result"]["blobs"] == 1 and job["result"]["bytes"] == 200
            assert client.get(f"/v2/team/app/blobs/{orphan}").status_code == 404
    finally:
        server.stop()
