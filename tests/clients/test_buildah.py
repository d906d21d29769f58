"""buildah (Debian) against cargohold: Dockerfile builds, pushes and a two-platform list.

buildah runs as root with vfs storage and chroot isolation, in storage and config
directories of its own (HOME, registries.conf, storage.conf, the signature policy and the
auth file all point into a temporary directory), so nothing on the host is read or changed.

buildah signs in as its users do: `buildah login --password-stdin` (the developer, kept in
the containers auth file) or `--creds` on each command (a CI robot).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import CI, TEAM, People
from tests.support.accesslog import access_log
from tests.support.busybox import write_rootfs_context
from tests.support.dockerd import (
    BUILDAH,
    kill_pids,
    pids_mentioning,
    require,
    run,
    short_tmpdir,
    unmount_under,
)
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(600)]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT_ALL = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])


class Buildah:
    """`buildah` with private storage (vfs) and configuration, chroot isolation."""

    def __init__(self) -> None:
        require(BUILDAH, "buildah")
        self.root = short_tmpdir("chd-buildah-")
        home = self.root / "home"
        config = home / ".config" / "containers"
        config.mkdir(parents=True)
        (config / "policy.json").write_text(
            json.dumps({"default": [{"type": "insecureAcceptAnything"}]})
        )
        registries = config / "registries.conf"
        registries.write_text("unqualified-search-registries = []\n")
        storage = config / "storage.conf"
        storage.write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f'graphroot = "{self.root / "storage"}"\n'
            f'runroot = "{self.root / "run"}"\n'
        )
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_RUNTIME_DIR": str(self.root / "xdg-run"),
            "CONTAINERS_REGISTRIES_CONF": str(registries),
            "CONTAINERS_STORAGE_CONF": str(storage),
            "REGISTRY_AUTH_FILE": str(self.root / "auth.json"),
            "BUILDAH_ISOLATION": "chroot",
            "TMPDIR": str(self.root / "tmp"),
        }
        (self.root / "xdg-run").mkdir(mode=0o700)
        (self.root / "tmp").mkdir()
        (self.root / "auth.json").write_text('{"auths": {}}')
        self.base = [
            BUILDAH,
            "--root",
            str(self.root / "storage"),
            "--runroot",
            str(self.root / "run"),
            "--storage-driver",
            "vfs",
        ]

    def __call__(self, *args: str, timeout: float = 300, stdin: str = "") -> str:
        return run([*self.base, *args], timeout=timeout, env=self.env, stdin=stdin).stdout

    @property
    def auths(self) -> dict[str, object]:
        """The hosts the auth file holds credentials for."""
        return json.loads((self.root / "auth.json").read_text())["auths"]  # type: ignore[no-any-return]

    def bud(self, context: Path, tag: str, *extra: str) -> str:
        return self(
            "bud",
            "--isolation",
            "chroot",
            "--tls-verify=false",
            "--layers=false",
            *extra,
            "-t",
            tag,
            str(context),
        )

    def close(self) -> None:
        try:
            run([*self.base, "rm", "--all"], timeout=60, env=self.env, check=False)
            kill_pids(pids_mentioning(str(self.root)))
            unmount_under(self.root)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def buildah() -> Iterator[Buildah]:
    tool = Buildah()
    try:
        yield tool
    finally:
        tool.close()


def _layer_file(http: httpx.Client, repo: str, layer: dict[str, object], member: str) -> bytes:
    """One file out of a (gzipped or plain) layer tar served by cargohold."""
    response = http.get(f"/v2/{repo}/blobs/{layer['digest']}")
    assert response.status_code == 200
    data = response.content
    assert len(data) == layer["size"]
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar.getmembers():
            if info.name.lstrip("./") == member:
                extracted = tar.extractfile(info)
                assert extracted is not None
                return extracted.read()
    raise AssertionError(f"{member} is not in layer {layer['digest']}")


def _manifest(http: httpx.Client, repo: str, reference: str) -> httpx.Response:
    response = http.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT_ALL})
    assert response.status_code == 200, response.text
    return response


def test_buildah_login_then_dockerfile_build_and_push(
    buildah: Buildah, sqlite_registry: CargoholdServer, people: People, tmp_path: Path
) -> None:
    host = sqlite_registry.host
    prefix = f"{TEAM}/buildah-{uuid.uuid4().hex[:8]}"
    developer = people.developer
    login = buildah(
        "login",
        "--tls-verify=false",
        "--username",
        developer.name,
        "--password-stdin",
        host,
        stdin=developer.secret,
    )
    assert "Login Succeeded" in login
    assert host in buildah.auths
    base = f"{host}/{prefix}/busybox-base:1"
    app = f"{host}/{prefix}/app:single"

    base_context = write_rootfs_context(tmp_path / "base")
    (base_context / "Dockerfile").write_text("FROM scratch\nCOPY bin/ /bin/\nENV PATH=/bin\n")
    buildah.bud(base_context, base)
    buildah("push", "--tls-verify=false", base)
    buildah("rmi", base)

    app_context = tmp_path / "app"
    app_context.mkdir()
    (app_context / "Dockerfile").write_text(
        f"FROM {base}\n"
        'RUN mkdir -p /etc && echo "run by $(uname -s)" > /etc/message\n'
        'CMD ["/bin/cat", "/etc/message"]\n'
    )
    buildah.bud(app_context, app)
    buildah("push", "--tls-verify=false", app)

    log = access_log(sqlite_registry)
    assert any(
        e["method"] == "GET"
        and e["path"] == f"/v2/{prefix}/busybox-base/manifests/1"
        and e["status"] == 200
        for e in log
    ), "buildah did not pull the base image from cargohold"

    with httpx.Client(
        base_url=sqlite_registry.url, auth=sqlite_registry.admin_auth, timeout=30
    ) as http:
        manifest = _manifest(http, f"{prefix}/app", "single").json()
        layers = manifest["layers"]
        assert len(layers) == 2  # the base's busybox layer and the RUN step's layer
        assert _layer_file(http, f"{prefix}/app", layers[-1], "etc/message") == b"run by Linux\n"
        config = http.get(f"/v2/{prefix}/app/blobs/{manifest['config']['digest']}").json()
        assert config["config"]["Cmd"] == ["/bin/cat", "/etc/message"]


def test_buildah_two_platform_manifest_list_pushed_by_a_ci_robot(
    buildah: Buildah, sqlite_registry: CargoholdServer, people: People, tmp_path: Path
) -> None:
    host = sqlite_registry.host
    repo = f"{CI}/buildah-{uuid.uuid4().hex[:8]}/multiarch"
    base = f"{host}/{repo}-base:1"
    creds = ("--creds", people.ci.creds)
    assert buildah.auths == {}  # nothing but --creds signs in here

    # The amd64 image starts from a base pulled from cargohold and runs a step.
    base_context = write_rootfs_context(tmp_path / "base")
    (base_context / "Dockerfile").write_text("FROM scratch\nCOPY bin/ /bin/\nENV PATH=/bin\n")
    buildah.bud(base_context, base)
    buildah("push", "--tls-verify=false", *creds, base)
    buildah("rmi", base)
    amd64_context = tmp_path / "amd64"
    amd64_context.mkdir()
    (amd64_context / "Dockerfile").write_text(
        f"FROM {base}\n"
        'RUN echo "amd64 built on $(uname -m)" > /message\n'
        'CMD ["/bin/cat", "/message"]\n'
    )
    buildah.bud(amd64_context, f"{host}/{repo}:amd64", "--platform", "linux/amd64", *creds)

    # The arm64 image runs nothing (no emulation here): FROM scratch and a COPY.
    arm64_context = tmp_path / "arm64"
    arm64_context.mkdir()
    (arm64_context / "message").write_text("arm64 payload\n")
    (arm64_context / "Dockerfile").write_text("FROM scratch\nCOPY message /message\n")
    buildah.bud(arm64_context, f"{host}/{repo}:arm64", "--platform", "linux/arm64")

    buildah("manifest", "create", "cargohold-multiarch")
    for arch in ("amd64", "arm64"):
        buildah(
            "manifest",
            "add",
            "cargohold-multiarch",
            f"containers-storage:{host}/{repo}:{arch}",
        )
    buildah(
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        *creds,
        "cargohold-multiarch",
        f"docker://{host}/{repo}:multi",
    )

    with httpx.Client(
        base_url=sqlite_registry.url, auth=sqlite_registry.admin_auth, timeout=30
    ) as http:
        response = _manifest(http, repo, "multi")
        media_type = response.headers["content-type"]
        assert media_type in (OCI_INDEX, DOCKER_LIST)
        index = response.json()
        assert index.get("mediaType", media_type) == media_type
        children = {
            (m["platform"]["os"], m["platform"]["architecture"]): m for m in index["manifests"]
        }
        assert set(children) == {("linux", "amd64"), ("linux", "arm64")}

        for (_, arch), descriptor in children.items():
            child = _manifest(http, repo, descriptor["digest"])
            assert child.headers["docker-content-digest"] == descriptor["digest"]
            assert len(child.content) == descriptor["size"]
            assert child.headers["content-type"] == descriptor["mediaType"]
            manifest = child.json()
            config = http.get(f"/v2/{repo}/blobs/{manifest['config']['digest']}")
            assert config.status_code == 200
            assert config.json()["architecture"] == arch
            assert config.json()["os"] == "linux"
            for layer in manifest["layers"]:
                head = http.head(f"/v2/{repo}/blobs/{layer['digest']}")
                assert head.status_code == 200
            message = _layer_file(http, repo, manifest["layers"][-1], "message")
            expected = b"amd64 built on x86_64\n" if arch == "amd64" else b"arm64 payload\n"
            assert message == expected
