"""Docker Engine (Debian docker.io) against cargohold: build, push, pull and run.

A private dockerd (vfs, no bridge, no iptables) uses cargohold as an insecure
registry on loopback. The base image is made here from the static busybox and pushed
first; a multi-stage build then pulls it from cargohold through BuildKit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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


def test_docker_build_push_pull_run(
    dockerd: DockerDaemon, sqlite_registry: CargoholdServer, tmp_path: Path
) -> None:
    host = sqlite_registry.host
    prefix = f"docker/{uuid.uuid4().hex[:8]}"
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
