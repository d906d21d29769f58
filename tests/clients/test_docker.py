"""Docker Engine (Debian docker.io) against cargohold: login, build, push, pull and run.

A private dockerd (vfs, no bridge, no iptables) uses cargohold as an insecure
registry on loopback. The base image is made here from the static busybox and pushed
first; a multi-stage build then pulls it from cargohold through BuildKit.

docker signs in as its users do: `docker login --password-stdin` gets a refresh token from
the token endpoint (`offline_token=true`) and keeps it in config.json as `identitytoken`
instead of the password; later pushes and pulls trade it for registry tokens with the OAuth2
POST (`grant_type=refresh_token`).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import CI, OTHER, PUBLIC, TEAM, People
from tests.support.accesslog import access_log
from tests.support.busybox import write_rootfs_context
from tests.support.dockerd import DockerDaemon
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def dockerd(sqlite_registry: CargoholdServer) -> Iterator[DockerDaemon]:
    daemon = DockerDaemon(insecure_registries=[sqlite_registry.host])
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


def _audited_logins(
    server: CargoholdServer, actor: str, since: str, methods: set[str]
) -> list[dict[str, Any]]:
    """The actor's `login` entries since a time, once entries of each of `methods` are
    written (logins are written in batches, every `pull_flush_seconds`, by each server
    process on its own: one batch may be written before another)."""
    deadline = time.monotonic() + 30
    with server.client(timeout=30) as admin:
        while True:
            events: list[dict[str, Any]] = admin.get(
                "/api/v1/audit", params={"actor": actor, "action": "login", "since": since}
            ).json()["events"]
            if methods <= {e["method"] for e in events} or time.monotonic() > deadline:
                return events
            time.sleep(0.5)


def _busybox_image(dockerd: DockerDaemon, tag: str, context: Path) -> None:
    write_rootfs_context(context)
    (context / "Dockerfile").write_text('FROM scratch\nCOPY bin/ /bin/\nCMD ["/bin/sh"]\n')
    dockerd.docker("build", "--network", "none", "-t", tag, str(context), timeout=300)


def test_docker_login_keeps_a_refresh_token_and_builds_pushes_pulls_runs(
    dockerd: DockerDaemon, sqlite_registry: CargoholdServer, people: People, tmp_path: Path
) -> None:
    host = sqlite_registry.host
    prefix = f"{TEAM}/docker-{uuid.uuid4().hex[:8]}"

    # 0. Sign in as the developer with the password; docker keeps a refresh token instead.
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    developer = people.developer
    log_start = len(access_log(sqlite_registry))
    assert "Login Succeeded" in dockerd.login(host, developer.name, developer.secret)
    entry = dockerd.config["auths"][host]
    assert entry["identitytoken"].startswith("chrt_")
    assert base64.b64decode(entry["auth"]).decode() == f"{developer.name}:"
    assert developer.secret not in json.dumps(dockerd.config)
    base = f"{host}/{prefix}/busybox-base:1"
    app = f"{host}/{prefix}/multistage:1"

    # 1. A base image from scratch: busybox and its applets, pushed and dropped locally.
    base_context = write_rootfs_context(tmp_path / "base")
    (base_context / "Dockerfile").write_text(
        'FROM scratch\nCOPY bin/ /bin/\nENV PATH=/bin\nCMD ["/bin/sh"]\n'
    )
    dockerd.docker("build", "--network", "none", "-t", base, str(base_context), timeout=300)
    dockerd.docker("push", base, timeout=300)
    dockerd.docker("rmi", base)

    # 2. A multi-stage build whose first stage comes from cargohold and runs a step.
    app_context = tmp_path / "app"
    app_context.mkdir()
    (app_context / "greeting").write_text("hello from cargohold\n")
    (app_context / "Dockerfile").write_text(
        f"FROM {base} AS build\n"
        "COPY greeting /src/greeting\n"
        "RUN mkdir -p /out/bin /out/etc \\\n"
        " && cp /bin/busybox /out/bin/busybox \\\n"
        ' && echo "built on $(uname -s)" > /out/etc/message \\\n'
        " && cat /src/greeting >> /out/etc/message\n"
        "\n"
        "FROM scratch\n"
        "COPY --from=build /out/ /\n"
        'ENTRYPOINT ["/bin/busybox", "cat", "/etc/message"]\n'
    )
    dockerd.docker("build", "--network", "none", "-t", app, str(app_context), timeout=300)
    dockerd.docker("push", app, timeout=300)

    # The build pulled the base from cargohold (the local copy was removed).
    log = access_log(sqlite_registry)
    base_pulls = [
        e
        for e in log
        if e["method"] == "GET"
        and e["path"].startswith(f"/v2/{prefix}/busybox-base/manifests/")
        and e["status"] == 200
    ]
    assert base_pulls, "docker build did not fetch the base manifest from cargohold"

    # What cargohold holds: a tag whose manifest references blobs it serves.
    with httpx.Client(
        base_url=sqlite_registry.url, auth=sqlite_registry.admin_auth, timeout=30
    ) as http:
        tags = http.get(f"/v2/{prefix}/multistage/tags/list").json()
        assert tags["tags"] == ["1"]
        response = http.get(
            f"/v2/{prefix}/multistage/manifests/1",
            headers={
                "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.manifest.v1+json"
            },
        )
        assert response.status_code == 200
        manifest = response.json()
        for descriptor in [manifest["config"], *manifest["layers"]]:
            head = http.head(f"/v2/{prefix}/multistage/blobs/{descriptor['digest']}")
            assert head.status_code == 200
            assert int(head.headers["content-length"]) == descriptor["size"]
        pushed_digest = response.headers["docker-content-digest"]

    # 3. Forget the image locally, pull it back and run it without a network.
    dockerd.docker("rmi", app)
    assert dockerd.docker("images", "-q", app).strip() == ""
    dockerd.docker("pull", app, timeout=300)
    repo_digests = dockerd.docker("image", "inspect", "--format", "{{json .RepoDigests}}", app)
    assert f"{host}/{prefix}/multistage@{pushed_digest}" in json.loads(repo_digests)
    output = dockerd.docker("run", "--rm", "--network", "none", app, timeout=120)
    assert output == "built on Linux\nhello from cargohold\n"

    # The password went to the token endpoint once, for `docker login` (a GET with
    # offline_token=true). Every push and pull after it got its registry tokens with the
    # refresh token: the OAuth2 POST, audited as logins of the developer by refresh token.
    # (BuildKit asks with a GET, sending the refresh token as a nameless Basic password,
    # which stands for its holder; docker's own pushes and pulls POST.) Nothing is refused.
    token_requests = [
        (e["method"], e["status"])
        for e in access_log(sqlite_registry)[log_start:]
        if e["path"] == "/auth/token"
    ]
    assert ("POST", 200) in token_requests
    assert set(token_requests) <= {("GET", 200), ("POST", 200)}, token_requests
    logins = _audited_logins(sqlite_registry, developer.name, since, {"password", "refresh"})
    methods = {(e["method"], e["result"]) for e in logins}
    assert ("refresh", "ok") in methods
    passwords = [e for e in logins if e["method"] == "password"]
    assert sum(e["detail"].get("count", 1) for e in passwords) == 1, passwords
    assert ("password", "ok") in methods  # docker login itself


def test_a_ci_robot_logs_in_and_pushes_to_its_project_only(
    dockerd: DockerDaemon, sqlite_registry: CargoholdServer, people: People, tmp_path: Path
) -> None:
    """The CI step `echo $SECRET | docker login -u 'robot$ci' --password-stdin` then `docker
    push`: the robot's refresh token gets tokens for its project, and none for another's."""
    host = sqlite_registry.host
    run_id = uuid.uuid4().hex[:8]
    ours, theirs = f"{host}/{CI}/{run_id}/app:1", f"{host}/{OTHER}/{run_id}/app:1"
    _busybox_image(dockerd, ours, tmp_path / "context")
    dockerd.docker("tag", ours, theirs)

    assert "Login Succeeded" in dockerd.login(host, people.ci.name, people.ci.secret)
    assert dockerd.config["auths"][host]["identitytoken"].startswith("chrt_")
    assert people.ci.secret not in json.dumps(dockerd.config)
    dockerd.docker("push", ours, timeout=300)
    with sqlite_registry.client(timeout=30) as admin:
        assert admin.get(f"/v2/{CI}/{run_id}/app/tags/list").json()["tags"] == ["1"]

    refused = dockerd.attempt("push", theirs, timeout=300)
    assert refused.returncode != 0
    assert "denied: requested access to the resource is denied" in refused.stderr
    with sqlite_registry.client(timeout=30) as admin:
        assert admin.get(f"/v2/{OTHER}/{run_id}/app/tags/list").status_code == 404


def test_an_expired_robot_cannot_log_in(
    dockerd: DockerDaemon, sqlite_registry: CargoholdServer, people: People
) -> None:
    name = f"robot$expired-{uuid.uuid4().hex[:8]}"
    expired = people.accounts.robot(name, {CI: ("pull", "push")}, days_ago=31)
    before = dockerd.config

    refused = dockerd.login(sqlite_registry.host, expired.name, expired.secret, check=False)
    assert "unauthorized: the credentials were not accepted" in refused
    assert "Login Succeeded" not in refused
    assert dockerd.config == before  # nothing kept for it


def test_a_push_without_login_is_told_to_sign_in(
    dockerd: DockerDaemon, sqlite_registry: CargoholdServer, tmp_path: Path
) -> None:
    """docker shows the words of the challenge's error_description (its blob HEAD's 401 has
    no body): an anonymous push is told that it needs to sign in."""
    host = sqlite_registry.host
    image = f"{host}/{PUBLIC}/{uuid.uuid4().hex[:8]}/app:1"
    _busybox_image(dockerd, image, tmp_path / "context")
    dockerd.docker("logout", host)

    refused = dockerd.attempt("push", image, timeout=300)
    assert refused.returncode != 0
    assert (
        "denied: authentication required: anonymous access allows only pulls from public projects"
        in refused.stderr
    )
