"""skopeo signs in to cargohold the ways its users do: `skopeo login` into the containers auth
file, `--authfile`, `--creds` and `--src-creds`/`--dest-creds` per command, a registry token
with `--dest-registry-token`, or nothing (anonymous). Each goes through the token flow: the
registry's 401 challenge, a token from /auth/token, then Bearer."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import CI, OTHER, PUBLIC, TEAM, People, Skopeo
from tests.support.accesslog import access_log
from tests.support.images import BuiltImages
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(300)]

# What docker, skopeo and containerd print when an anonymous caller tries more than a pull.
SIGN_IN_FIRST = "authentication required"
DENIED = "requested access to the resource is denied"


def _name() -> str:
    return f"signin-{uuid.uuid4().hex[:8]}"


def _tags(server: CargoholdServer, repository: str) -> list[str]:
    """The repository's tags, as the admin sees them ([] when it does not exist)."""
    response = httpx.get(
        f"{server.url}/v2/{repository}/tags/list", auth=server.admin_auth, timeout=30
    )
    return response.json()["tags"] if response.status_code == 200 else []


def _token_requests(server: CargoholdServer, since: int) -> list[tuple[str, int]]:
    return [
        (e["method"], e["status"]) for e in access_log(server)[since:] if e["path"] == "/auth/token"
    ]


def test_login_keeps_the_developer_signed_in_for_every_command(
    skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    people: People,
    test_images: BuiltImages,
    repo: str,
) -> None:
    host = sqlite_registry.host
    assert repo.startswith(f"{TEAM}/")
    entry = json.loads(skopeo.authfile.read_text())["auths"][host]
    assert entry["auth"]  # skopeo login checked the password against the server and kept it

    start = len(access_log(sqlite_registry))
    skopeo.copy(test_images.ref("amd64"), f"docker://{host}/{repo}:v1")
    listed = skopeo.run("list-tags", "--tls-verify=false", f"docker://{host}/{repo}").stdout
    assert json.loads(listed)["Tags"] == ["v1"]
    # Each command asked the token endpoint (GET, Basic) and then used the token.
    assert ("GET", 200) in _token_requests(sqlite_registry, start)
    pushes = [
        e
        for e in access_log(sqlite_registry)[start:]
        if e["method"] == "PUT" and e["path"] == f"/v2/{repo}/manifests/v1"
    ]
    assert [e["status"] for e in pushes] == [201]


def test_creds_per_command_for_a_ci_robot(
    anonymous_skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    people: People,
    test_images: BuiltImages,
) -> None:
    host = sqlite_registry.host
    target = f"docker://{host}/{CI}/{_name()}:v1"
    anonymous_skopeo.copy(test_images.ref("amd64"), target, "--dest-creds", people.ci.creds)

    facts = anonymous_skopeo.inspect(target, "--creds", people.ci.creds)
    assert facts["Digest"] == test_images.digest("amd64")
    # The same command without credentials is anonymous, and `ci` is private.
    refused = anonymous_skopeo.run("inspect", "--tls-verify=false", target, check=False)
    assert refused.returncode != 0
    assert SIGN_IN_FIRST in refused.stderr.decode()
    # A wrong secret is refused at the token endpoint, and said so.
    wrong = anonymous_skopeo.run(
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"{people.ci.name}:not-the-secret",
        target,
        check=False,
    )
    assert wrong.returncode != 0
    assert "the credentials were not accepted" in wrong.stderr.decode()


def test_an_auth_file_named_with_authfile(
    anonymous_skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    people: People,
    test_images: BuiltImages,
    repo: str,
    tmp_path: Path,
) -> None:
    """A CI job keeps its own auth file: login with the developer's personal access token."""
    host = sqlite_registry.host
    authfile = tmp_path / "ci-auth.json"
    anonymous_skopeo.login(host, people.developer_token, "--authfile", str(authfile))
    assert host in json.loads(authfile.read_text())["auths"]

    target = f"docker://{host}/{repo}:from-authfile"
    anonymous_skopeo.copy(test_images.ref("arm64"), target, "--authfile", str(authfile))
    facts = anonymous_skopeo.inspect(target, "--authfile", str(authfile))
    assert facts["Digest"] == test_images.digest("arm64")
    assert anonymous_skopeo.run("inspect", "--tls-verify=false", target, check=False).returncode


def test_anonymous_pulls_from_a_public_project_and_cannot_push(
    skopeo: Skopeo,
    anonymous_skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    test_images: BuiltImages,
    tmp_path: Path,
) -> None:
    host = sqlite_registry.host
    repository = f"{PUBLIC}/{_name()}"
    published = f"docker://{host}/{repository}:v1"
    skopeo.copy(test_images.ref("amd64"), published)  # the developer publishes it

    start = len(access_log(sqlite_registry))
    assert anonymous_skopeo.inspect(published)["Digest"] == test_images.digest("amd64")
    anonymous_skopeo.copy(published, f"oci:{tmp_path / 'pulled'}:v1")

    pushed = anonymous_skopeo.copy(
        test_images.ref("arm64"), f"docker://{host}/{repository}:anonymous", check=False
    )
    assert pushed.returncode != 0
    message = pushed.stderr.decode()
    assert f"denied: {SIGN_IN_FIRST}" in message, message
    assert _tags(sqlite_registry, repository) == ["v1"]
    assert not [e for e in access_log(sqlite_registry)[start:] if e["status"] >= 500]


def test_a_token_for_one_repository_cannot_push_to_another_project(
    anonymous_skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    people: People,
    test_images: BuiltImages,
) -> None:
    """A CI job fetches a registry token for its repository (as `curl -u` would) and hands it
    to skopeo: it pushes there, and nowhere else."""
    host = sqlite_registry.host
    mine, theirs = f"{CI}/{_name()}", f"{OTHER}/{_name()}"
    response = httpx.get(
        f"{sqlite_registry.url}/auth/token",
        params={"service": "cargohold", "scope": f"repository:{mine}:pull,push"},
        auth=people.ci.auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token = response.json()["token"]

    anonymous_skopeo.copy(
        test_images.ref("amd64"), f"docker://{host}/{mine}:v1", "--dest-registry-token", token
    )
    assert _tags(sqlite_registry, mine) == ["v1"]

    refused = anonymous_skopeo.copy(
        test_images.ref("amd64"),
        f"docker://{host}/{theirs}:v1",
        "--dest-registry-token",
        token,
        check=False,
    )
    assert refused.returncode != 0
    assert f"denied: {DENIED}" in refused.stderr.decode()
    assert _tags(sqlite_registry, theirs) == []

    # With the robot's own credentials skopeo asks for a token for that repository, and gets
    # one that allows nothing there: the robot's scopes are in `ci` only.
    refused = anonymous_skopeo.copy(
        test_images.ref("amd64"),
        f"docker://{host}/{theirs}:v1",
        "--dest-creds",
        people.ci.creds,
        check=False,
    )
    assert refused.returncode != 0
    assert f"denied: {DENIED}" in refused.stderr.decode()
    assert _tags(sqlite_registry, theirs) == []
