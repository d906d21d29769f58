"""containerd's `ctr` (Debian containerd) against cargohold: pull, retag, push, run.

A private containerd pulls a two-platform index from cargohold, tags it into another
repository of the same registry and pushes it: containerd remembers where each blob
came from (distribution-source labels) and mounts them across repositories
(`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`) instead of uploading.

ctr signs in with `--user name:password`: containerd asks the token endpoint with the OAuth2
POST (`grant_type=password`) for each scope it needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.clients.conftest import TEAM, People
from tests.support.accesslog import Entry, access_log, wait_for_entries
from tests.support.busybox import push_seed_index, seed_index
from tests.support.dockerd import ContainerdDaemon
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(600)]

ACCEPT_ALL = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@pytest.fixture
def containerd() -> Iterator[ContainerdDaemon]:
    daemon = ContainerdDaemon()
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


def test_ctr_pull_retag_push_mounts_blobs(
    containerd: ContainerdDaemon, sqlite_registry: CargoholdServer, people: People
) -> None:
    host = sqlite_registry.host
    run_id = uuid.uuid4().hex[:8]
    source_repo, target_repo = f"{TEAM}/ctr-{run_id}/source", f"{TEAM}/ctr-{run_id}/copy"
    marker = f"seed {uuid.uuid4().hex}"
    seed = seed_index(marker)
    user = ("--user", people.developer.creds)
    push_seed_index(sqlite_registry.url, source_repo, "v1", seed, people.developer_token.auth)
    source, target = f"{host}/{source_repo}:v1", f"{host}/{target_repo}:v1"

    log_start = len(access_log(sqlite_registry))
    containerd.ctr("images", "pull", "--plain-http", "--all-platforms", *user, source)
    listed = containerd.ctr("images", "ls", "-q")
    assert source in listed.split()
    token_requests = {
        (e["method"], e["status"])
        for e in access_log(sqlite_registry)[log_start:]
        if e["path"] == "/auth/token"
    }
    assert token_requests == {("POST", 200)}, token_requests
    containerd.ctr("images", "tag", source, target)
    log_start = len(access_log(sqlite_registry))
    containerd.ctr("images", "push", "--plain-http", *user, target)

    # Every blob went across by mount; nothing was uploaded.
    blob_count = len({b.digest for b in seed.blobs})

    def mounts(entries: list[Entry]) -> list[Entry]:
        return [
            e
            for e in entries
            if e["method"] == "POST"
            and e["path"].rstrip("/") == f"/v2/{target_repo}/blobs/uploads"
            and e["status"] == 201
        ]

    def tagged(entries: list[Entry]) -> bool:
        return any(
            e["method"] == "PUT" and e["path"] == f"/v2/{target_repo}/manifests/v1" for e in entries
        )

    pushed = wait_for_entries(
        sqlite_registry,
        lambda entries: len(mounts(entries)) >= blob_count and tagged(entries),
        since=log_start,
    )
    to_target = [e for e in pushed if e["path"].startswith(f"/v2/{target_repo}/")]
    assert len(mounts(to_target)) == blob_count, to_target
    assert not [e for e in to_target if e["method"] == "PATCH"], to_target
    assert all(e["status"] < 400 or e["method"] == "HEAD" for e in to_target), to_target

    with httpx.Client(
        base_url=sqlite_registry.url, auth=sqlite_registry.admin_auth, timeout=30
    ) as http:
        index = http.get(f"/v2/{target_repo}/manifests/v1", headers={"Accept": ACCEPT_ALL})
        assert index.status_code == 200
        assert index.headers["docker-content-digest"] == seed.index.digest
        assert index.content == seed.index.data
        for image in seed.images:
            child = http.get(
                f"/v2/{target_repo}/manifests/{image.manifest.digest}",
                headers={"Accept": ACCEPT_ALL},
            )
            assert child.status_code == 200
            assert child.content == image.manifest.data
            for blob in (image.config, image.layer):
                fetched = http.get(f"/v2/{target_repo}/blobs/{blob.digest}")
                assert fetched.status_code == 200
                assert fetched.content == blob.data

    # A second namespace has no content yet: it pulls the copy from the target
    # repository and runs the amd64 image (network namespace with loopback only).
    log_start = len(access_log(sqlite_registry))
    containerd.ctr("images", "pull", "--plain-http", *user, target, namespace="verify")

    amd64 = next(i for i in seed.images if i.platform["architecture"] == "amd64")
    wanted = {amd64.config.digest, amd64.layer.digest}

    def fetched_from_target(entries: list[Entry]) -> set[str]:
        prefix = f"/v2/{target_repo}/blobs/"
        return {
            e["path"].removeprefix(prefix)
            for e in entries
            if e["method"] == "GET" and e["path"].startswith(prefix) and e["status"] == 200
        }

    entries = wait_for_entries(
        sqlite_registry, lambda entries: wanted <= fetched_from_target(entries), since=log_start
    )
    assert wanted <= fetched_from_target(entries), "ctr did not pull from the target repository"
    output = containerd.run_container(target, f"cargohold-{run_id}", namespace="verify")
    assert output == f"{marker}\n"
