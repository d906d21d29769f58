"""cargohold's own container image: built from the repository's Dockerfile with the Docker
engine, pushed into a cargohold server, pulled back and run.

Docker Hub cannot be reached from here, so the Dockerfile's pinned base (debian:bookworm-slim)
is stood in for by the same thing made here (tests/support/debian_base.py): it is pushed into
the test server first, and the build names it by digest, `--build-arg BASE=HOST/...@sha256:`,
the way a site that mirrors its bases into its own registry builds. The build's apt and pip
steps reach the Debian mirror and PyPI (`--network host`, the host's CA bundle as the
`ca-bundle` build secret), so this module is marked `image_build`; it takes a few minutes.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.files import REPOSITORY_ROOT
from tests.support.accounts import Accounts, Login
from tests.support.debian_base import base_tarball
from tests.support.dockerd import DockerDaemon
from tests.support.ports import free_port
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.image_build, pytest.mark.peer, pytest.mark.timeout(1200)]

CA_BUNDLE = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
# What "small" means here: the final image stays under this many bytes unpacked.
MAX_IMAGE_BYTES = 280 * 1024 * 1024
# The dependencies' compiled modules (the build strips their debug sections): each must load.
NATIVE_IMPORTS = (
    "import granian._granian, uvloop.loop, zstandard.backend_c, orjson, msgspec, re2,"
    " _argon2_cffi_bindings, yaml._yaml, cryptography.hazmat.bindings._rust,"
    ' sqlalchemy.engine._result_cy, psycopg; assert psycopg.pq.__impl__ == "binary"'
)
BUILD_TOOLS = ("gcc", "cc", "c++", "make", "ld", "strip", "pip", "pip3", "git")
UID = "10001"
# docs/deployment.md#backups: the one-node backup, in the container's working directory.
SQLITE_BACKUP = (
    "import sqlite3; sqlite3.connect('cargohold.db').backup(sqlite3.connect('backup.db'))"
)


@dataclass(frozen=True)
class Built:
    """The image as cargohold holds it: its reference, its digest, and the robot that pushed it."""

    reference: str
    digest: str
    base: str
    robot: Login


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    """The cargohold server the image is pushed into (and its base is pulled from)."""
    server = CargoholdServer(tmp_path_factory.mktemp("image-home") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def robot(home: CargoholdServer) -> Iterator[Login]:
    """A release robot with pull and push on the projects `library` and `cargohold`."""
    accounts = Accounts(home)
    try:
        accounts.project("library")
        accounts.project("cargohold")
        yield accounts.robot(
            "robot$release", {"library": ("pull", "push"), "cargohold": ("pull", "push")}
        )
    finally:
        accounts.close()


@pytest.fixture(scope="module")
def dockerd(home: CargoholdServer) -> Iterator[DockerDaemon]:
    daemon = DockerDaemon(insecure_registries=[home.host])
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


def _repo_digest(dockerd: DockerDaemon, reference: str) -> str:
    digests = json.loads(
        dockerd.docker("image", "inspect", "--format", "{{json .RepoDigests}}", reference)
    )
    assert len(digests) == 1, digests
    return str(digests[0]).split("@", 1)[1]


@pytest.fixture(scope="module")
def built(dockerd: DockerDaemon, home: CargoholdServer, robot: Login) -> Built:
    """Log in as the robot, put the base into cargohold, build the image on it (by digest),
    push the image, then forget both locally: what the tests see comes back from cargohold."""
    assert "Login Succeeded" in dockerd.login(home.host, robot.name, robot.secret)

    base_tag = f"{home.host}/library/debian:bookworm-slim"
    dockerd.docker("import", str(base_tarball()), base_tag, timeout=300)
    dockerd.docker("push", base_tag, timeout=300)
    base = f"{home.host}/library/debian@{_repo_digest(dockerd, base_tag)}"
    dockerd.docker("rmi", base_tag)

    reference = f"{home.host}/cargohold/cargohold:{uuid.uuid4().hex[:8]}"
    command = ["build", "--network", "host", "--build-arg", f"BASE={base}", "-t", reference]
    if CA_BUNDLE.is_file():
        command += ["--secret", f"id=ca-bundle,src={CA_BUNDLE}"]
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        if os.environ.get(name, "").startswith(("http://", "https://")):
            command += ["--build-arg", f"{name}={os.environ[name]}"]
    dockerd.docker(*command, str(REPOSITORY_ROOT), timeout=900)
    dockerd.docker("push", reference, timeout=600)
    digest = _repo_digest(dockerd, reference)
    dockerd.docker("rmi", reference)
    return Built(reference, digest, base, robot)


def _inspect(dockerd: DockerDaemon, reference: str) -> dict[str, Any]:
    return json.loads(dockerd.docker("image", "inspect", reference))[0]  # type: ignore[no-any-return]


def test_the_image_pulled_back_from_cargohold_is_the_one_pushed_and_runs(
    dockerd: DockerDaemon, home: CargoholdServer, built: Built
) -> None:
    repository, tag = built.reference.split("/", 1)[1].rsplit(":", 1)
    with home.client(timeout=30) as http:
        assert tag in http.get(f"/v2/{repository}/tags/list").json()["tags"]
    assert dockerd.docker("images", "-q", built.reference).strip() == ""

    dockerd.docker("pull", built.reference, timeout=600)
    assert _repo_digest(dockerd, built.reference) == built.digest
    usage = dockerd.docker("run", "--rm", "--network", "none", built.reference, "--help")
    assert "cargohold: a self-hosted container registry." in usage
    for command in ("serve", "worker", "gc", "fsck"):
        assert f" {command} " in usage


def test_the_image_runs_as_a_fixed_non_root_user_with_a_data_volume_and_no_build_tools(
    dockerd: DockerDaemon, built: Built
) -> None:
    dockerd.docker("pull", built.reference, timeout=600)
    image = _inspect(dockerd, built.reference)
    config = image["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["cargohold"]
    assert config["Cmd"] == ["serve"]
    assert "CARGOHOLD_ADDR=0.0.0.0:5000" in config["Env"]
    assert "CARGOHOLD_DATA_DIR=/var/lib/cargohold" in config["Env"]
    assert list(config["ExposedPorts"]) == ["5000/tcp"]
    assert list(config["Volumes"]) == ["/var/lib/cargohold"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert image["Size"] < MAX_IMAGE_BYTES, f"the image grew to {image['Size']} bytes"

    # The final stage is the base it was given (by digest) plus cargohold's layers.
    dockerd.docker("pull", built.base, timeout=600)
    base_layers = _inspect(dockerd, built.base)["RootFS"]["Layers"]
    assert image["RootFS"]["Layers"][: len(base_layers)] == base_layers

    # One throwaway container (each costs a copy of the image on vfs) answers the rest.
    script = (
        "id -u; id -g; stat -c '%u %g %a' /var/lib/cargohold;"
        " test -x /opt/cargohold/bin/cargohold && echo cargohold-installed;"
        " python3 -c 'import pip' 2>/dev/null || echo no-pip;"
        f" python3 -c '{NATIVE_IMPORTS}' && echo native-modules-load;"
        f" command -v {' '.join(BUILD_TOOLS)} || true"
    )
    lines = _sh(dockerd, built.reference, script).splitlines()
    uid, gid, data_dir, installed, pip, native, *tools = lines
    assert [uid, gid] == [UID, UID]
    assert data_dir == f"{UID} {UID} 750"  # the data directory is the user's
    assert installed == "cargohold-installed"
    assert pip == "no-pip"
    assert native == "native-modules-load"  # stripped of debug sections, still whole
    assert tools == [], f"build tools in the final image: {tools}"


def _sh(dockerd: DockerDaemon, reference: str, script: str) -> str:
    """What a shell script prints in a throwaway container of the image (no network)."""
    return dockerd.docker(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", reference, "-c", script
    )


def _wait_for_v2(url: str, timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"{url}/v2/", timeout=2)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_the_image_serves_a_registry_that_keeps_its_data_in_the_volume(
    dockerd: DockerDaemon, built: Built
) -> None:
    """`docker run IMAGE`, as the default command starts it: the first start migrates the
    schema into the volume, creates the admin with the given password, and serves /v2/."""
    dockerd.docker("pull", built.reference, timeout=600)
    port = free_port()
    password = secrets.token_urlsafe(18)
    name = f"cargohold-{uuid.uuid4().hex[:8]}"
    dockerd.docker(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--env",
        f"CARGOHOLD_ADDR=127.0.0.1:{port}",
        "--env",
        f"CARGOHOLD_ADMIN_PASSWORD={password}",
        built.reference,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        anonymous = _wait_for_v2(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer realm=")
        signed_in = httpx.get(f"{url}/v2/", auth=("admin", password), timeout=30)
        assert signed_in.status_code == 200

        processes = dockerd.docker("top", name, "-o", "pid,uid,args")
        assert "cargohold.launch" in processes
        assert all(line.split()[1] == UID for line in processes.splitlines()[1:]), processes
        data = dockerd.docker("exec", name, "ls", "-n", "/var/lib/cargohold")
        assert "cargohold.db" in data
        mounts = json.loads(dockerd.docker("inspect", "--format", "{{json .Mounts}}", name))
        assert [m["Destination"] for m in mounts] == ["/var/lib/cargohold"]

        # The online backup docs/deployment.md gives for one node, run as written there.
        assert SQLITE_BACKUP in (REPOSITORY_ROOT / "docs" / "deployment.md").read_text()
        dockerd.docker("exec", name, "python3", "-c", SQLITE_BACKUP)
        admins = dockerd.docker(
            "exec",
            name,
            "python3",
            "-c",
            "import sqlite3; print(sqlite3.connect('backup.db')"
            '.execute("SELECT name FROM users").fetchall())',
        )
        assert admins.strip() == "[('admin',)]"

        # The health check says what /healthz says.
        healthz = httpx.get(f"{url}/healthz", timeout=10).status_code
        check = dockerd.attempt("exec", name, "python3", "/usr/local/bin/cargohold-healthcheck")
        assert (check.returncode == 0) == (healthz == 200), (healthz, check.stderr)
    finally:
        print(dockerd.attempt("logs", name).stderr[-3000:])
        dockerd.attempt("rm", "--force", name)
