"""Moving a single node to PostgreSQL and S3, as docs/operations.md tells an operator to: a
real server on SQLite and the filesystem gets images (tags, a manifest list, a Docker image,
a referrer, a layer past the copy's whole-object size), accounts, holds, a tag rule, a queued
job and audit entries; it is stopped; `cargohold migrate-storage` copies its blobs into
SeaweedFS and `cargohold migrate-metadata` its metadata into PostgreSQL (each run twice); a
server started on PostgreSQL and S3 alone (the old database and blobs moved away) serves
every manifest and blob byte for byte, lets the same accounts sign in, keeps the audit log
and goes on taking pushes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from cargohold.meta.transfer import NOT_RUN
from cargohold.policy.permissions import Role
from tests.api.helpers import deterministic_bytes
from tests.support.accounts import Accounts, Login
from tests.support.oci import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    encode,
    image_manifest,
    push_image,
    put_manifest,
    sha256,
)
from tests.support.postgres import PostgresServer
from tests.support.seaweedfs import SeaweedServer
from tests.support.server import CARGOHOLD, CargoholdServer

MIB = 1024 * 1024
ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
# Settings of the old server: no job consumer (a job stays queued) and no scans on push.
OLD_SERVER_ENV = {"CARGOHOLD_JOB_WORKERS": "0", "CARGOHOLD_SCAN_ON_PUSH": "false"}


@dataclass
class Moved:
    """What the old server held, what the migration commands said, and the new server."""

    old: dict[str, bytes]
    manifests: set[str]
    catalog: list[str]
    tags: dict[str, list[str]]
    referrers: dict[str, Any]
    # (id, action, actor) of every audit entry in the old database once the server stopped.
    audit: list[tuple[int, str, str]]
    holds: list[dict[str, Any]]
    tag_rules: list[dict[str, Any]]
    queued_job: str
    alice: Login
    alice_token: Login
    robot: Login
    runs: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    server: CargoholdServer | None = None


@dataclass
class Crawl:
    contents: dict[str, bytes]
    manifests: set[str]
    catalog: list[str]
    tags: dict[str, list[str]]


def crawl(http: httpx.Client) -> Crawl:
    """Every manifest (by tag, by digest, index children, referrers) and every blob each
    references, as `repository@digest` -> bytes; the catalog; each repository's tags."""
    found: dict[str, bytes] = {}
    manifests: set[str] = set()
    catalog = http.get("/v2/_catalog").json()["repositories"]
    tags: dict[str, list[str]] = {}

    def manifest(repo: str, reference: str) -> None:
        response = http.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
        assert response.status_code == 200, response.text
        digest = response.headers["Docker-Content-Digest"]
        if f"{repo}@{digest}" in found:
            return
        found[f"{repo}@{digest}"] = response.content
        manifests.add(f"{repo}@{digest}")
        document = json.loads(response.content)
        for child in document.get("manifests", []):
            manifest(repo, child["digest"])
        for blob in [document.get("config"), *document.get("layers", [])]:
            if blob is not None:
                pulled = http.get(f"/v2/{repo}/blobs/{blob['digest']}")
                assert pulled.status_code == 200, pulled.text
                found[f"{repo}@{blob['digest']}"] = pulled.content
        for referrer in http.get(f"/v2/{repo}/referrers/{digest}").json()["manifests"]:
            manifest(repo, referrer["digest"])

    for repo in catalog:
        tags[repo] = http.get(f"/v2/{repo}/tags/list").json()["tags"]
        for tag in tags[repo]:
            manifest(repo, tag)
    return Crawl(found, manifests, catalog, tags)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def fill(http: httpx.Client, accounts: Accounts) -> dict[str, Any]:
    """The old registry's content; returns what the checks need that a crawl does not give."""
    big = deterministic_bytes(12 * MIB + 5, b"big layer")
    subject, subject_body = push_image(
        http, "team/app", "1.0", layers=[big, b"small layer"], config=b'{"os":"linux"}'
    )
    push_image(http, "team/app", "latest", layers=[b"latest layer"])
    referrer = image_manifest(
        http,
        "team/app",
        layers=[b"a signature"],
        artifactType="application/x.signature",
        subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)},
    )
    body = encode(referrer)
    assert put_manifest(http, "team/app", sha256(body), body).status_code == 201
    children = []
    for arch in ("amd64", "arm64"):
        document = image_manifest(
            http,
            "team/multi",
            layers=[arch.encode() * 100],
            config=json.dumps({"a": arch}).encode(),
        )
        child = encode(document)
        assert put_manifest(http, "team/multi", sha256(child), child).status_code == 201
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(child),
                "size": len(child),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    assert put_manifest(http, "team/multi", "multi", index).status_code == 201
    push_image(http, "team/docker", "v2", layers=[b"docker layer"], media_type=DOCKER_MANIFEST)

    hold = http.post(
        "/api/v1/holds",
        json={"scope": "image", "target": "team/app", "digest": subject, "reason": "audit 7"},
    )
    assert hold.status_code == 201, hold.text
    rule = http.post(
        "/api/v1/tag-rules", json={"scope": "project", "target": "team", "pattern": "1.*"}
    )
    assert rule.status_code == 201, rule.text
    job = http.post("/api/v1/jobs", json={"kind": "gc", "args": {}})
    assert job.status_code == 202, job.text

    accounts.project("team")
    alice = accounts.user("alice", "alice-password-1")
    accounts.member("team", "alice", Role.DEVELOPER)
    robot = accounts.robot("ci", {"team": ("pull",)})
    return {
        "queued_job": job.json()["id"],
        "alice": alice,
        "alice_token": accounts.token("alice"),
        "robot": robot,
    }


@pytest.fixture(scope="module")
def moved(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedServer, postgres: PostgresServer
) -> Iterator[Moved]:
    root = tmp_path_factory.mktemp("single-node")
    data = root / "data"
    old = CargoholdServer(data, extra_env=OLD_SERVER_ENV).start()
    accounts = Accounts(old)
    try:
        with old.client(timeout=60) as http:
            made = fill(http, accounts)
            # Signing in writes audit entries too, and a pull one (flushed at shutdown).
            assert httpx.get(f"{old.url}/v2/", auth=made["alice"].auth).status_code == 200
            assert http.get("/v2/team/app/manifests/latest").status_code == 200
            before = crawl(http)
            subject = http.get("/v2/team/app/manifests/1.0", headers={"Accept": ACCEPT})
            referrers = http.get(
                f"/v2/team/app/referrers/{subject.headers['Docker-Content-Digest']}"
            ).json()
            holds = http.get("/api/v1/holds").json()["holds"]
            tag_rules = http.get("/api/v1/tag-rules").json()["rules"]
    finally:
        accounts.close()
        old.stop()
    with sqlite3.connect(data / "cargohold.db") as db:
        audit = db.execute("SELECT id, action, actor FROM audit_events ORDER BY id").fetchall()
    moved = Moved(
        old=before.contents,
        manifests=before.manifests,
        catalog=before.catalog,
        tags=before.tags,
        referrers=referrers,
        audit=audit,
        holds=holds,
        tag_rules=tag_rules,
        queued_job=made["queued_job"],
        alice=made["alice"],
        alice_token=made["alice_token"],
        robot=made["robot"],
    )

    prefix = f"moved-{uuid.uuid4().hex[:10]}"
    store = {
        k: v for k, v in seaweedfs.settings_env(prefix).items() if k != "CARGOHOLD_STORAGE_DRIVER"
    }
    env = {**os.environ, **store}
    database = postgres.create_database(f"moved_{uuid.uuid4().hex[:8]}")
    moved.runs["storage"] = run_cli("migrate-storage", "--data-dir", str(data), "--json", env=env)
    moved.runs["storage again"] = run_cli(
        "migrate-storage", "--data-dir", str(data), "--json", env=env
    )
    moved.runs["metadata"] = run_cli(
        "migrate-metadata", "--data-dir", str(data), "--to", database, env=env
    )
    moved.runs["metadata again"] = run_cli(
        "migrate-metadata", "--data-dir", str(data), "--to", database, env=env
    )
    moved.runs["metadata replaced"] = run_cli(
        "migrate-metadata",
        "--data-dir",
        str(data),
        "--to",
        database,
        "--replace",
        "--json",
        env=env,
    )
    # Nothing of the old stores may serve the new server: move them away.
    (data / "blobs").rename(root / "old-blobs")
    (data / "cargohold.db").rename(root / "old-cargohold.db")

    new = CargoholdServer(
        data,
        database_url=database,
        extra_env={
            **seaweedfs.settings_env(prefix),
            "CARGOHOLD_SCAN_ON_PUSH": "false",
            # A wrong password is tried on purpose: it must not slow the next test's requests.
            "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0",
        },
        admin_password=old.admin_password,
    )
    moved.server = new
    new.start()
    yield moved
    new.stop()


def test_both_commands_succeed_and_say_what_they_did(moved: Moved) -> None:
    storage = moved.runs["storage"]
    assert storage.returncode == 0, storage.stderr
    report = json.loads(storage.stdout)
    blobs = {key.split("@", 1)[1] for key in moved.old.keys() - moved.manifests}
    assert report["failed"] == 0 and report["copied"] >= len(blobs)
    assert report["copiedBytes"] >= 12 * MIB
    metadata = moved.runs["metadata"]
    assert metadata.returncode == 0, metadata.stderr
    first = metadata.stdout.splitlines()[0]
    assert first.startswith("copied ") and "every table's row count checked" in first
    assert "carried as failed: 1 job run(s) still queued or running" in metadata.stdout


def test_running_either_twice_is_safe(moved: Moved) -> None:
    again = moved.runs["storage again"]
    assert again.returncode == 0, again.stderr
    first, second = (json.loads(moved.runs[k].stdout) for k in ("storage", "storage again"))
    assert (second["copied"], second["failed"]) == (0, 0)
    assert second["skipped"] == first["copied"] + first["skipped"]
    refused = moved.runs["metadata again"]
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the destination already holds data: ")
    assert "--replace" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    replaced = moved.runs["metadata replaced"]
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)["tables"]["manifests"] == len(moved.manifests)


def test_every_manifest_and_blob_is_served_byte_for_byte(moved: Moved) -> None:
    assert moved.server is not None
    with moved.server.client(timeout=60) as http:
        after = crawl(http)
        subject = http.get("/v2/team/app/manifests/1.0", headers={"Accept": ACCEPT})
        referrers = http.get(f"/v2/team/app/referrers/{subject.headers['Docker-Content-Digest']}")
        system = http.get("/api/v1/system").json()
    assert after.catalog == moved.catalog and after.tags == moved.tags
    assert after.contents.keys() == moved.old.keys()
    assert all(after.contents[key] == moved.old[key] for key in moved.old)
    assert referrers.json() == moved.referrers
    assert system["storage"]["driver"] == "s3"
    assert system["metadata"]["dialect"] == "postgresql"


def test_accounts_sign_in_as_before(moved: Moved) -> None:
    assert moved.server is not None
    url = moved.server.url
    for login in (moved.alice, moved.alice_token, moved.robot):
        response = httpx.get(f"{url}/v2/team/app/manifests/latest", auth=login.auth, timeout=30)
        assert response.status_code == 200, (login.name, response.text)
        token = httpx.get(
            f"{url}/auth/token",
            params={"service": "cargohold", "scope": "repository:team/app:pull"},
            auth=login.auth,
            timeout=30,
        )
        assert token.status_code == 200 and token.json()["token"]
    wrong = httpx.get(f"{url}/v2/", auth=("alice", "not-her-password"), timeout=30)
    assert wrong.status_code == 401


def test_audit_holds_rules_and_jobs_are_carried(moved: Moved) -> None:
    assert moved.server is not None
    with moved.server.client(timeout=60) as http:
        listed = http.get("/api/v1/audit", params={"format": "jsonl"})
        assert listed.status_code == 200, listed.text
        events = [json.loads(line) for line in listed.text.splitlines()]
        holds = http.get("/api/v1/holds").json()["holds"]
        rules = http.get("/api/v1/tag-rules").json()["rules"]
        job = http.get(f"/api/v1/jobs/{moved.queued_job}").json()
        held = http.delete(f"/v2/team/app/manifests/{moved.holds[0]['digest']}")
    carried = sorted((e["id"], e["action"], e["actor"]) for e in events)
    assert carried[: len(moved.audit)] == moved.audit
    actions = {action for _, action, _ in moved.audit}
    assert {"manifest.push", "manifest.pull", "login", "hold.add", "tag-rule.add"} <= actions
    assert {"user.create", "robot.create", "token.create"} <= actions
    assert holds == moved.holds and rules == moved.tag_rules
    assert held.status_code == 403  # the hold still holds
    assert (job["state"], job["error"]) == ("failed", NOT_RUN)


def test_the_new_server_takes_new_rows_after_the_copied_ones(moved: Moved) -> None:
    """PostgreSQL's sequences were advanced: new holds, rules, manifests and audit entries
    get ids past the copied ones instead of colliding with them."""
    assert moved.server is not None
    with moved.server.client(timeout=60) as http:
        push_image(http, "team/app", "2.0", layers=[b"after the move"])
        hold = http.post(
            "/api/v1/holds", json={"scope": "repository", "target": "team/docker", "reason": "x"}
        )
        assert hold.status_code == 201, hold.text
        assert hold.json()["id"] > max(h["id"] for h in moved.holds)
        rule = http.post(
            "/api/v1/tag-rules", json={"scope": "project", "target": "team", "pattern": "2.*"}
        )
        assert rule.status_code == 201, rule.text
        assert http.get("/v2/team/app/manifests/2.0").status_code == 200
    check = run_cli("fsck", "--registry", moved.server.url, env=moved.server.cli_env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no problems found" in check.stdout
