"""The audit log's batched entries (pulls, denials), its retention purge, and secrets kept out
of it, of the access log and of error messages.

The server here flushes its batches once an hour: whatever a test finds before a clean
restart (which flushes) was written by something other than a pull or a denial, so "no write
per pull" is checked without timing anything.
"""

from __future__ import annotations

import base64
import itertools
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cargohold.meta.db import make_engine
from cargohold.policy.permissions import Role
from cargohold.policy.scopes import ResourceScope
from tests.api.helpers import wait_for_job
from tests.support.accounts import Accounts, Login, registry_token
from tests.support.oci import push_image, put_manifest
from tests.support.postgres import PostgresServer
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.support.times import seconds

_databases = itertools.count()
RETENTION_DAYS = 30
AGENT = "audit-batch-tests/2.0"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CargoholdServer]:
    database_url = ""
    if request.param == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        database_url = pg.create_database(f"audit_batched_{next(_databases)}")
    started = CargoholdServer(
        tmp_path_factory.mktemp(f"audit-{request.param}") / "data",
        database_url=database_url,
        extra_env={
            "CARGOHOLD_PULL_FLUSH_SECONDS": "3600",
            "CARGOHOLD_AUDIT_RETENTION_DAYS": str(RETENTION_DAYS),
        },
    ).start()
    yield started
    started.stop()


@pytest.fixture
def http(server: CargoholdServer) -> Iterator[httpx.Client]:
    with server.client(timeout=60, headers={"User-Agent": AGENT}) as client:
        yield client


def _entries(client: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params={"limit": 1000, **filters})
    assert response.status_code == 200, response.text
    return response.json()["events"]  # type: ignore[no-any-return]


def _database_url(server: CargoholdServer) -> str:
    return server.database_url or f"sqlite:///{server.data_dir.resolve() / 'cargohold.db'}"


def test_pulls_and_denials_are_written_in_batches_with_a_count(
    server: CargoholdServer, http: httpx.Client
) -> None:
    repo = "batched/app"
    digest, _ = push_image(http, repo, "v1", layers=[b"batched"])
    for _ in range(20):
        assert http.get(f"/v2/{repo}/manifests/v1").status_code == 200
    for _ in range(3):
        assert http.get(f"/v2/{repo}/manifests/{digest}").status_code == 200
    for _ in range(5):
        assert http.head(f"/v2/{repo}/manifests/v1").status_code == 200  # not a pull
    # Refused: a push over an immutable tag, a delete under a hold.
    rule = {"scope": "project", "target": "batched", "pattern": "v*"}
    assert http.post("/api/v1/tag-rules", json=rule).status_code == 201
    other = push_image(http, "batched/other", "w1", layers=[b"other"])[1]
    for _ in range(4):
        assert put_manifest(http, repo, "v1", other).status_code == 403
    hold = {"scope": "repository", "target": repo, "reason": "batch test"}
    assert http.post("/api/v1/holds", json=hold).status_code == 201
    assert http.delete(f"/v2/{repo}/manifests/{digest}").status_code == 403

    # Nothing of these is written yet: no write per pull (or per refusal).
    before = _entries(http, repository=repo)
    assert [e["action"] for e in before] == ["hold.add", "manifest.push"]

    server.restart()  # a clean stop flushes what each worker holds
    entries = _entries(http, repository=repo)
    pulls = [e for e in entries if e["action"] == "manifest.pull"]
    by_reference: dict[str, int] = {}
    for pull in pulls:
        assert (pull["digest"], pull["result"], pull["actor"]) == (digest, "ok", "admin")
        assert (pull["address"], pull["userAgent"], pull["project"]) == (
            "127.0.0.1",
            AGENT,
            "batched",
        )
        assert pull["detail"]["count"] >= 1
        by_reference[pull["reference"]] = (
            by_reference.get(pull["reference"], 0) + pull["detail"]["count"]
        )
    # Each server worker writes one entry per distinct pull with its count.
    assert by_reference == {"v1": 20, digest: 3}
    assert len(pulls) <= 4

    denied = [e for e in entries if e["result"] == "denied"]
    pushes = [e for e in denied if e["action"] == "manifest.push"]
    assert sum(e["detail"]["count"] for e in pushes) == 4
    assert all(e["reference"] == "v1" and "immutable" in e["detail"]["reason"] for e in pushes)
    delete = [e for e in denied if e["action"] == "manifest.delete"]
    assert [(e["reference"], e["detail"]["count"]) for e in delete] == [(digest, 1)]
    assert "hold" in delete[0]["detail"]["reason"]
    assert _entries(http, repository=repo, result="denied") == denied


def test_refusals_of_the_access_check_are_denials_and_anonymous_challenges_are_not(
    server: CargoholdServer, http: httpx.Client
) -> None:
    """A signed-in caller refused by the access check is a denial in the audit log, with
    what it lacked (`access.<action>`) and where; an anonymous request answered with a
    challenge is every client's first step, not a denial."""
    accounts = Accounts(server)
    try:
        accounts.project("guarded")
        guest = accounts.user("guest-of-guarded", "guest password 1")
        accounts.member("guarded", guest.name, Role.GUEST)
    finally:
        accounts.close()
    repo = "guarded/app"
    digest, _ = push_image(http, repo, "v1", layers=[b"guarded"])
    with httpx.Client(base_url=server.url, auth=guest.auth, timeout=60) as as_guest:
        assert as_guest.get(f"/v2/{repo}/manifests/v1").status_code == 200
        for _ in range(3):
            assert as_guest.delete(f"/v2/{repo}/manifests/{digest}").status_code == 403
        assert as_guest.post("/api/v1/gc").status_code == 403
    with httpx.Client(base_url=server.url, timeout=60) as anonymous:
        assert anonymous.delete(f"/v2/{repo}/manifests/{digest}").status_code == 401

    server.restart()  # flushes the batched entries
    denied = _entries(http, actor=guest.name, result="denied")
    by_action = {e["action"]: e for e in denied}
    assert set(by_action) == {"access.delete", "access.gc"}, denied
    delete = by_action["access.delete"]
    assert (delete["repository"], delete["project"], delete["detail"]["count"]) == (
        repo,
        "guarded",
        3,
    )
    assert delete["method"] == "password" and delete["address"] == "127.0.0.1"
    assert delete["detail"]["reason"] == f"no permission: DELETE /v2/{repo}/manifests/{digest}"
    assert "guest password 1" not in str(denied)
    anonymous_denials = _entries(http, actor="anonymous", result="denied")
    assert [e for e in anonymous_denials if e["repository"] == repo] == []


def test_one_registry_token_sent_by_two_clients_is_audited_under_each(
    server: CargoholdServer, http: httpx.Client
) -> None:
    """A token's grant is kept for the next request that sends it (a signed-in pull builds
    nothing): kept per client, so each pull is audited with the address and user agent that
    sent it, under the token's subject."""
    repo = "shared-token/app"
    digest, _ = push_image(http, repo, "v1", layers=[b"shared token"])
    token = registry_token(server, "admin", [ResourceScope("repository", repo, ("pull",))])
    for agent, pulls in (("first-client/1.0", 3), ("second-client/2.0", 2)):
        headers = {"Authorization": f"Bearer {token}", "User-Agent": agent}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for _ in range(pulls):
                assert client.get(f"/v2/{repo}/manifests/v1").status_code == 200
            # The grant is the token's only: nothing beyond its pull of this repository.
            assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 401

    server.restart()  # flushes the batched entries
    pulls = _entries(http, repository=repo, action="manifest.pull")
    counted: dict[str, int] = {}
    for pull in pulls:
        assert (pull["actor"], pull["method"]) == ("admin", "bearer"), pull
        counted[pull["userAgent"]] = counted.get(pull["userAgent"], 0) + pull["detail"]["count"]
    assert counted == {"first-client/1.0": 3, "second-client/2.0": 2}


def test_the_retention_purge_removes_old_entries_and_records_itself(
    server: CargoholdServer, http: httpx.Client
) -> None:
    now = time.time()
    old_ages = [RETENTION_DAYS + 1, RETENTION_DAYS + 5, 400]
    engine = make_engine(_database_url(server))
    try:
        with engine.begin() as connection:
            for days in old_ages:
                connection.execute(
                    sa.text(
                        "INSERT INTO audit_events (at, actor, action, target, detail)"
                        " VALUES (:at, 'old-actor', 'tag.delete', 'ancient/app:v1', '{}')"
                    ),
                    {"at": now - days * 86400},
                )
    finally:
        engine.dispose()
    # An old entry from before the audit fields existed still reads (empty fields are null).
    old = _entries(http, actor="old-actor")
    assert len(old) == 3 and old[0]["method"] is None and old[0]["repository"] is None
    push_image(http, "recent/app", "v1", layers=[b"recent"])

    job = http.post("/api/v1/jobs", json={"kind": "audit-purge"})
    assert job.status_code == 202, job.text
    run = wait_for_job(http, job.json()["id"])
    assert run["state"] == "succeeded", run
    assert run["result"]["removed"] == 3 and run["result"]["retentionDays"] == RETENTION_DAYS
    cutoff = seconds(run["result"]["before"])
    assert abs(cutoff - (now - RETENTION_DAYS * 86400)) < 600

    assert _entries(http, actor="old-actor") == []
    assert _entries(http, repository="recent/app")  # younger entries stay
    purges = _entries(http, action="audit.purge")
    assert purges[0]["detail"] == {
        "removed": 3,
        "before": run["result"]["before"],
        "retentionDays": RETENTION_DAYS,
    }
    assert (purges[0]["actor"], purges[0]["method"]) == ("admin", "job")
    # From the CLI: nothing is old any more, and the run says so (and is recorded too).
    ran = subprocess.run(
        [CARGOHOLD, "jobs", "run", "audit-purge", "--wait", "--registry", server.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "succeeded: 0 audit entries before" in ran.stdout
    assert [e["detail"]["removed"] for e in _entries(http, action="audit.purge")] == [0, 3]


# -- secrets ----------------------------------------------------------------------------------

PASSWORD = "pw-Secret-7f3c9a1e"
WRONG_PASSWORD = "pw-Wrong-Secret-0d9e"
QUERY_TOKEN = "query-Secret-5e7f2a90"
REPO = "secrets/app"


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def _bearer_for(server: CargoholdServer, login: Login) -> str:
    """A registry token from the token endpoint, as a client gets one."""
    answer = httpx.get(
        f"{server.url}/auth/token",
        params={"service": "cargohold", "scope": f"repository:{REPO}:pull,push,delete"},
        auth=login.auth,
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def test_no_secret_reaches_the_audit_log_the_access_log_or_an_error(
    server: CargoholdServer, tmp_path: Path
) -> None:
    accounts = Accounts(server)
    try:
        accounts.project("secrets")
        alice = accounts.user("alice", PASSWORD)
        accounts.member("secrets", "alice", Role.MAINTAINER)
        pat = accounts.token("alice", "secrets-test")
        robot = accounts.robot("ci", {"secrets": ("pull", "push", "delete")})
    finally:
        accounts.close()
    bearer = _bearer_for(server, alice)
    secrets = [PASSWORD, WRONG_PASSWORD, QUERY_TOKEN, pat.secret, robot.secret, bearer]
    credentials = [
        {"Authorization": _basic("alice", PASSWORD)},
        {"Authorization": f"Bearer {bearer}"},
        {"Authorization": _basic("alice", pat.secret)},
    ]
    answers: list[str] = []
    # Credentials in the URL (httpx sends them as Basic), in headers and in the query.
    url = server.url.replace("://", f"://{robot.name}:{robot.secret}@")
    with httpx.Client(base_url=url, timeout=60) as client:
        query = {"token": QUERY_TOKEN, "access_token": QUERY_TOKEN}
        for n, headers in enumerate([{}, *credentials]):
            client.headers.update(headers)
            digest, body = push_image(client, REPO, f"v{n}", layers=[f"secret {n}".encode()])
            pushed = client.put(
                f"/v2/{REPO}/manifests/q{n}",
                params=query,
                content=body,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
            assert pushed.status_code == 201, pushed.text
            assert client.get(f"/v2/{REPO}/manifests/v{n}", params=query).status_code == 200
            assert client.delete(f"/v2/{REPO}/manifests/q{n}", params=query).status_code == 202
            # Errors: an unknown image, an invalid reference, a bad filter, a refused delete.
            for response in (
                client.get(f"/v2/{REPO}/manifests/missing", params=query),
                client.put(f"/v2/{REPO}/manifests/bad:tag", params=query, content=b"{}"),
                client.get("/api/v1/audit", params={**query, "since": "soon"}),
                client.get("/api/v1/audit", params={**query, "cursor": "x"}),
                client.delete(f"/v2/{REPO}/blobs/sha256:{'0' * 64}", params=query),
            ):
                assert response.status_code >= 400
                answers.append(response.text + repr(dict(response.headers)))
            assert client.delete(f"/v2/{REPO}/manifests/{digest}").status_code == 202
    # A refused login: noted under the account, never with what was sent.
    refused = httpx.get(
        f"{server.url}/v2/", headers={"Authorization": _basic("alice", WRONG_PASSWORD)}
    )
    assert refused.status_code == 401
    answers.append(refused.text + repr(dict(refused.headers)))
    server.restart()  # flushes the batched entries and the access log

    engine = make_engine(_database_url(server))
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT * FROM audit_events")).all()
    finally:
        engine.dispose()
    stored = "\n".join(repr(tuple(row)) for row in rows)
    # The entries are there, under the names that signed in.
    assert "secrets/app" in stored and "manifest.pull" in stored and "login" in stored
    assert robot.name in stored and "'alice'" in stored
    log = server.log_path.read_text()
    assert f"/v2/{REPO}/manifests/v0" in log  # the access log is there
    for secret in secrets:
        encoded = [
            base64.b64encode(f"{u}:{secret}".encode()).decode() for u in ("alice", robot.name)
        ]
        for text, where in ((stored, "the audit log"), (log, "the server log")):
            assert secret not in text, f"a secret in {where}"
            assert not any(e in text for e in encoded), f"an encoded secret in {where}"
        assert not any(secret in answer for answer in answers), "a secret in an error answer"
