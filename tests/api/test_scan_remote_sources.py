"""`cargohold scan` reads images from any registry and from a Docker daemon, then scans them
locally: images pushed into Debian's docker-registry (anonymous and behind htpasswd) and into
cargohold (the Docker token flow), and an image `docker load`ed into a private dockerd. Bad
inputs are one-line errors with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_scanning import GLIBC_CVE, OSV, REQUESTS_CVE, VULNERABLE, _project
from tests.scan.imagebuild import docker_archive, oci_layout
from tests.support.distribution import Distribution
from tests.support.dockerd import DockerDaemon
from tests.support.images import push_layout
from tests.support.server import CARGOHOLD, CargoholdServer

SKOPEO = "/usr/bin/skopeo"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CARGOHOLD_", "DOCKER_", "REGISTRY_AUTH"))
    }
    return subprocess.run(
        [CARGOHOLD, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment | (env or {}),
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return oci_layout(tmp_path_factory.mktemp("remote-scan") / "layout", VULNERABLE)


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("remote-scan-db")
    imported = _cli("vulndb", "import", str(OSV), "--db-dir", str(directory))
    assert imported.returncode == 0, imported.stderr
    return directory


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    registry = Distribution(tmp_path_factory.mktemp("distribution-open")).start()
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    registry = Distribution(tmp_path_factory.mktemp("distribution-htpasswd"), ("ci", "s3cret"))
    yield registry.start()
    registry.stop()


def _findings(result: subprocess.CompletedProcess[str]) -> set[tuple[str, str]]:
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return {
        (v["id"], v["pkgName"]) for target in document["results"] for v in target["vulnerabilities"]
    }


def _scan_json(image: str, db_dir: Path, env: dict[str, str] | None = None) -> set[tuple[str, str]]:
    return _findings(_cli("scan", image, "--format", "json", "--db-dir", str(db_dir), env=env))


EXPECTED = {(GLIBC_CVE, "libc6"), (GLIBC_CVE, "libc-bin"), (REQUESTS_CVE, "requests")}


def _skopeo_push(layout: Path, target: str, tmp_path: Path, *options: str) -> str:
    """Copy the layout's image into a registry with skopeo; the digest it has there."""
    digest_file = tmp_path / "digest"
    copied = subprocess.run(
        [
            SKOPEO,
            "copy",
            "--dest-tls-verify=false",
            "--digestfile",
            str(digest_file),
            *options,
            f"oci:{layout}:latest",
            f"docker://{target}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr
    return digest_file.read_text().strip()


def test_images_in_distribution_are_scanned_by_reference(
    anonymous: Distribution, layout: Path, db_dir: Path, tmp_path: Path
) -> None:
    digest = _skopeo_push(layout, f"{anonymous.host}/team/app:1.0", tmp_path)
    assert _scan_json(f"{anonymous.host}/team/app:1.0", db_dir) >= EXPECTED
    assert _scan_json(f"docker://{anonymous.host}/team/app@{digest}", db_dir) >= EXPECTED

    missing = _one_line_error(_cli("scan", f"docker://{anonymous.host}/team/app:2.0"))
    assert "no such image" in missing and "MANIFEST_UNKNOWN" in missing
    gone = _one_line_error(_cli("scan", f"{anonymous.host}/nobody/here:1"))
    assert "no such image" in gone


def test_htpasswd_registry_takes_credentials_from_the_auth_file(
    guarded: Distribution, layout: Path, db_dir: Path, tmp_path: Path
) -> None:
    _skopeo_push(layout, f"{guarded.host}/team/app:1.0", tmp_path, "--dest-creds", "ci:s3cret")
    image = f"docker://{guarded.host}/team/app:1.0"
    refused = _one_line_error(_cli("scan", image, env={"HOME": str(tmp_path)}))
    assert "authentication required (HTTP 401)" in refused and "log in" in refused

    authfile = guarded.auth_file(tmp_path / "auth.json")
    assert _scan_json(image, db_dir, env={"REGISTRY_AUTH_FILE": str(authfile)}) >= EXPECTED
    # docker's own config.json is read too.
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    guarded.auth_file(docker_config / "config.json")
    env = {"DOCKER_CONFIG": str(docker_config), "HOME": str(tmp_path)}
    assert _scan_json(image, db_dir, env=env) >= EXPECTED


def test_cargohold_is_read_through_the_token_flow(
    registry: CargoholdServer, layout: Path, db_dir: Path, tmp_path: Path
) -> None:
    repository = f"{_project()}/app"
    with registry.client(timeout=120) as client:
        push_layout(client, layout, "latest", repository, "1")
        challenge = httpx.get(f"{registry.url}/v2/{repository}/manifests/1").headers
    assert challenge["www-authenticate"].lower().startswith("bearer ")
    image = f"docker://{registry.host}/{repository}:1"
    env = {"REGISTRY_AUTH_FILE": registry.cli_env["REGISTRY_AUTH_FILE"], "HOME": str(tmp_path)}
    assert _scan_json(image, db_dir, env=env) >= EXPECTED

    refused = _one_line_error(_cli("scan", image, env={"HOME": str(tmp_path)}))
    assert "HTTP 401" in refused or "refused anonymous access" in refused


def test_a_cargohold_server_with_scanning_off_is_read_and_scanned_here(
    layout: Path, db_dir: Path, tmp_path: Path
) -> None:
    """Its OpenAPI document lists no scan route: the image is read from it and scanned by the
    CLI, as from any other registry (asking it to scan would only get a 404)."""
    server = CargoholdServer(tmp_path / "data", extra_env={"CARGOHOLD_SCANNING": "false"})
    server.start()
    try:
        repository = f"{_project()}/app"
        with server.client(timeout=120) as client:
            push_layout(client, layout, "latest", repository, "1")
        env = {"REGISTRY_AUTH_FILE": server.cli_env["REGISTRY_AUTH_FILE"], "HOME": str(tmp_path)}
        assert _scan_json(f"{server.host}/{repository}:1", db_dir, env=env) >= EXPECTED
    finally:
        server.stop()


def test_bad_references_are_one_line_errors(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    unknown = _one_line_error(_cli("scan", "docker://no-such-host.invalid/app:1", env=env))
    assert "cannot reach https://no-such-host.invalid" in unknown
    closed = _one_line_error(_cli("scan", "docker://127.0.0.1:1/app:1", env=env))
    assert "cannot reach http://127.0.0.1:1" in closed
    assert "is not a tag" in _one_line_error(_cli("scan", "docker://127.0.0.1:1/app:bad tag"))
    no_socket = tmp_path / "docker.sock"
    daemon = _one_line_error(
        _cli("scan", "docker-daemon:app:1", env={"DOCKER_HOST": f"unix://{no_socket}"})
    )
    assert f"no Docker daemon socket at {no_socket}" in daemon


@pytest.fixture(scope="module")
def dockerd() -> Iterator[DockerDaemon]:
    daemon = DockerDaemon()
    try:
        yield daemon.start()
    finally:
        daemon.stop()


def test_an_image_in_the_docker_daemon_is_scanned_through_its_socket(
    dockerd: DockerDaemon, db_dir: Path, tmp_path: Path
) -> None:
    archive = docker_archive(tmp_path / "image.tar", [(VULNERABLE, ["shop/api:1.4.2"])])
    dockerd.docker("load", "--input", str(archive))
    env = {"DOCKER_HOST": f"unix://{dockerd.socket}"}
    assert _scan_json("docker-daemon:shop/api:1.4.2", db_dir, env=env) >= EXPECTED

    missing = _one_line_error(_cli("scan", "docker-daemon:shop/api:9.9", env=env))
    assert "no such image in the Docker daemon" in missing
