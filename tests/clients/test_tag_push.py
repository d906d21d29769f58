"""`cargohold tag --push`: a CI job applies the build's tags to an image already pushed, on a
cargohold server and on Debian's docker-registry (distribution), server-side.

What a release relies on: every tag names the very image pushed (same manifest bytes, same
digest, whatever the manifest's type and spacing), no blob is read or uploaded, and a tag the
registry refuses (an immutable tag that points elsewhere) stops the job with the registry's
reason before anything else moves.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.cli.build_facts import CI_SYSTEMS
from tests.clients.conftest import CI, DistributionRegistry, People
from tests.support.accesslog import wait_for_entries
from tests.support.distribution import Distribution
from tests.support.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    image_manifest,
    manifest_document,
    put_manifest,
    sha256,
)
from tests.support.server import CARGOHOLD, CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(300)]

COMMIT = "4f2a9c1d7e0b3a5c6d8e9f0a1b2c3d4e5f6a7b8c"
RELEASE = ("--version", "1.2.3", "--commit", COMMIT, "--time", "2025-02-03T14:30:45Z")
TAGS = ["v1.2.3", "v1.2", "v1", "sha-4f2a9c1", "v1.2.3-4f2a9c1", "20250203-143045-4f2a9c1"]
ACCEPT = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_LIST))
_CLEARED = {v for s in CI_SYSTEMS for v in (s.marker, s.commit, s.tag)} | {"REGISTRY_AUTH_FILE"}


def cargohold(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a CI step runs it: credentials only from `env`, no git work tree."""
    environment = {
        k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith("CARGOHOLD_")
    }
    home = str(tmp_path)
    environment.update(
        HOME=home, XDG_RUNTIME_DIR=home, XDG_CONFIG_HOME=home, DOCKER_CONFIG=home, **env
    )
    return subprocess.run(
        [CARGOHOLD, "tag", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _spaced(document: dict[str, Any]) -> bytes:
    """A manifest as some tools write it (indented, a trailing newline): re-encoding it would
    change its digest, so only the very bytes keep the image's identity."""
    return json.dumps(document, indent=3).encode() + b"\n"


def _peer_image(peer: httpx.Client, repo: str, layer: bytes, media_type: str) -> bytes:
    """Push a config and a layer to distribution (which takes uploads as POST then PUT, not
    the single POST `tests.support.oci.push_blob` makes) and return the manifest's bytes."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for blob in (config, layer):
        started = peer.post(f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]  # keeps its `_state` query
        sep = "&" if "?" in location else "?"
        done = peer.put(f"{location}{sep}digest={sha256(blob)}", content=blob)
        assert done.status_code == 201, done.text
    return _spaced(manifest_document(config, [layer], media_type))


def _served(url: str, repo: str, tag: str, auth: httpx.Auth | None = None) -> httpx.Response:
    response = httpx.get(
        f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}, auth=auth, timeout=30
    )
    assert response.status_code == 200, (tag, response.text)
    return response


def _assert_tagged(url: str, repo: str, body: bytes, auth: httpx.Auth | None = None) -> None:
    for tag in TAGS:
        served = _served(url, repo, tag, auth)
        assert served.content == body, tag
        assert served.headers["Docker-Content-Digest"] == sha256(body), tag
    listed = httpx.get(f"{url}/v2/{repo}/tags/list", auth=auth, timeout=30).json()["tags"]
    assert set(TAGS) <= set(listed)


@pytest.fixture
def robot_client(sqlite_registry: CargoholdServer, people: People) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sqlite_registry.url, auth=people.ci.auth, timeout=60) as client:
        yield client


def test_a_ci_robot_tags_an_image_on_cargohold_without_moving_blobs(
    tmp_path: Path,
    sqlite_registry: CargoholdServer,
    people: People,
    robot_client: httpx.Client,
    repo: str,
) -> None:
    name = f"{CI}/{repo}"
    body = _spaced(image_manifest(robot_client, name, layers=[b"tag me"]))
    assert put_manifest(robot_client, name, "build-7", body, OCI_MANIFEST).status_code == 201
    # The server logs a request after answering it: wait for the setup's last one, so that
    # what follows is the command's alone.
    setup = wait_for_entries(
        sqlite_registry, lambda found: any(f"/{name}/manifests/build-7" in e["path"] for e in found)
    )
    since = len(setup)
    image = f"{sqlite_registry.host}/{name}"
    done = cargohold(
        tmp_path,
        *RELEASE,
        "--push",
        f"{image}:build-7",
        CARGOHOLD_USERNAME=people.ci.name,
        CARGOHOLD_PASSWORD=people.ci.secret,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{image}:{tag}" for tag in TAGS]
    assert done.stderr == f"Tagged {image}@{sha256(body)} with 6 tag(s)\n"
    _assert_tagged(sqlite_registry.url, name, body, people.ci.auth)
    entries = wait_for_entries(
        sqlite_registry,
        lambda found: sum(e["method"] == "PUT" for e in found) >= len(TAGS),
        since,
    )
    ours = [e for e in entries if f"/v2/{name}/" in e["path"]]
    assert not [e for e in ours if "/blobs/" in e["path"]], ours
    assert sorted(e["path"].rsplit("/", 1)[1] for e in ours if e["method"] == "PUT") == sorted(TAGS)


def test_an_immutable_tag_elsewhere_stops_the_job_before_anything_moves(
    tmp_path: Path,
    sqlite_registry: CargoholdServer,
    people: People,
    robot_client: httpx.Client,
    repo: str,
) -> None:
    name = f"{CI}/{repo}"
    released = _spaced(image_manifest(robot_client, name, layers=[b"the real 1.2.3"]))
    assert put_manifest(robot_client, name, "v1.2.3", released, OCI_MANIFEST).status_code == 201
    body = _spaced(image_manifest(robot_client, name, layers=[b"a rebuild"]))
    assert put_manifest(robot_client, name, "build-8", body, OCI_MANIFEST).status_code == 201
    with sqlite_registry.client() as admin:
        rule = admin.post(
            "/api/v1/tag-rules", json={"scope": "repository", "target": name, "pattern": "v*"}
        )
        assert rule.status_code == 201, rule.text
        try:
            done = cargohold(
                tmp_path,
                *RELEASE,
                "--push",
                f"{sqlite_registry.host}/{name}:build-8",
                CARGOHOLD_USERNAME=people.ci.name,
                CARGOHOLD_PASSWORD=people.ci.secret,
            )
        finally:
            admin.delete(f"/api/v1/tag-rules/{rule.json()['id']}")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "manifest push v1.2.3: denied (DENIED: " in done.stderr
    assert f"it already points to {sha256(released)}; push a new tag instead" in done.stderr
    assert _served(sqlite_registry.url, name, "v1.2.3", people.ci.auth).content == released
    listed = robot_client.get(f"/v2/{name}/tags/list").json()["tags"]
    assert sorted(listed) == ["build-8", "v1.2.3"]


def test_a_refusal_after_some_tags_names_the_tags_applied(
    tmp_path: Path,
    sqlite_registry: CargoholdServer,
    people: People,
    robot_client: httpx.Client,
    repo: str,
) -> None:
    name = f"{CI}/{repo}"
    body = _spaced(image_manifest(robot_client, name, layers=[b"no latest here"]))
    assert put_manifest(robot_client, name, "build-9", body, OCI_MANIFEST).status_code == 201
    with sqlite_registry.client() as admin:
        rule = admin.post(
            "/api/v1/tag-rules", json={"kind": "deny-latest", "scope": "repository", "target": name}
        )
        assert rule.status_code == 201, rule.text
        try:
            done = cargohold(
                tmp_path,
                *RELEASE,
                "--latest",
                "--push",
                f"{sqlite_registry.host}/{name}:build-9",
                CARGOHOLD_USERNAME=people.ci.name,
                CARGOHOLD_PASSWORD=people.ci.secret,
            )
        finally:
            admin.delete(f"/api/v1/tag-rules/{rule.json()['id']}")
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert done.stderr.count("\n") == 1 and "manifest push latest: denied" in done.stderr
    assert done.stderr.endswith(f"(applied before it: {', '.join(TAGS)})\n")
    _assert_tagged(sqlite_registry.url, name, body, people.ci.auth)


def test_distribution_docker_manifest_and_manifest_list(
    tmp_path: Path, distribution: DistributionRegistry, repo: str
) -> None:
    with httpx.Client(base_url=distribution.url, timeout=30) as peer:
        amd64 = _peer_image(peer, repo, b"amd64", DOCKER_MANIFEST)
        arm64 = _peer_image(peer, repo, b"arm64", DOCKER_MANIFEST)
        platforms = []
        for body, arch in ((amd64, "amd64"), (arm64, "arm64")):
            assert put_manifest(peer, repo, sha256(body), body, DOCKER_MANIFEST).status_code == 201
            platforms.append(
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": sha256(body),
                    "size": len(body),
                    "platform": {"architecture": arch, "os": "linux"},
                }
            )
        listed = _spaced({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": platforms})
        assert put_manifest(peer, repo, "build-9", listed, DOCKER_LIST).status_code == 201
        assert put_manifest(peer, repo, "amd64", amd64, DOCKER_MANIFEST).status_code == 201
    done = cargohold(tmp_path, *RELEASE, "--push", f"{distribution.host}/{repo}:build-9")
    assert done.returncode == 0, done.stderr
    _assert_tagged(distribution.url, repo, listed)
    assert _served(distribution.url, repo, "v1").headers["Content-Type"] == DOCKER_LIST
    # By digest, and a plain image manifest, with --format json saying what was applied.
    digest = sha256(amd64)
    report = cargohold(
        tmp_path,
        *RELEASE,
        "-e",
        "staging",
        "-f",
        "json",
        "--push",
        f"{distribution.host}/{repo}@{digest}",
    )
    assert report.returncode == 0, report.stderr
    pushed = json.loads(report.stdout)["pushed"]
    assert pushed == {
        "image": f"{distribution.host}/{repo}@{digest}",
        "digest": digest,
        "tags": [*TAGS, "staging"],
    }
    assert _served(distribution.url, repo, "staging").content == amd64


def test_distribution_behind_htpasswd_with_the_auth_file(tmp_path: Path, repo: str) -> None:
    private = Distribution(tmp_path / "private", user=("ci", "a secret for ci")).start()
    try:
        auth = httpx.BasicAuth("ci", "a secret for ci")
        with httpx.Client(base_url=private.url, auth=auth, timeout=30) as peer:
            body = _peer_image(peer, repo, b"private", OCI_MANIFEST)
            assert put_manifest(peer, repo, "build-1", body, OCI_MANIFEST).status_code == 201
        image = f"{private.host}/{repo}:build-1"
        anonymous = cargohold(tmp_path, *RELEASE, "--push", image)
        assert anonymous.returncode == 1
        assert "not signed in; log in first: `cargohold login" in anonymous.stderr, anonymous.stderr
        authfile = private.auth_file(tmp_path / "auth.json")
        done = cargohold(tmp_path, *RELEASE, "--push", image, REGISTRY_AUTH_FILE=str(authfile))
        assert done.returncode == 0, done.stderr
        _assert_tagged(private.url, repo, body, auth)
        missing = cargohold(
            tmp_path,
            *RELEASE,
            "--push",
            f"{private.host}/{repo}:nope",
            REGISTRY_AUTH_FILE=str(authfile),
        )
        assert missing.returncode == 1 and "no such image" in missing.stderr, missing.stderr
    finally:
        private.stop()
