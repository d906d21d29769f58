"""A scan that failed is told apart from one not done yet: in the pull gate's refusal, the scan
result API, the remediation (overdue) report and `cargohold scan`; it fails closed.

Scans fail for real: a layer that is not a tar stream at all, and a layer blob removed from the
server's storage before a rescan.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.storage.s3.keys import KeyLayout
from tests.api.test_scan_cli_registry import _cli
from tests.api.test_scanning import ACCEPT, CLEAN, _eventually, _project, _push, _scan
from tests.scan.imagebuild import File, ImageSpec, oci_layout
from tests.support.oci import error_code, push_image
from tests.support.seaweedfs import SeaweedServer
from tests.support.server import CargoholdServer


def _push_not_a_tar(client: httpx.Client, repository: str, tag: str) -> str:
    """An image whose one layer is text, not a tar stream: its scan fails. Its own digest:
    a digest another test pushed may be being scanned again (its report running, not failed)."""
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {}}).encode()
    layer = f"{repository}:{tag}: this layer is not a tar stream\n".encode() * 40
    digest, _ = push_image(client, repository, tag, layers=[layer], config=config)
    return digest


def _policy(client: httpx.Client, project: str, **policy: Any) -> None:
    response = client.put(f"/api/v1/projects/{project}/scan-policy", json=policy)
    assert response.status_code == 200, response.text


def _failed(client: httpx.Client, repository: str, reference: str) -> dict[str, Any]:
    """The SCAN_FAILED error of the image's scan, once it has failed."""

    def check() -> dict[str, Any] | None:
        response = client.get(f"/api/v1/repositories/{repository}/manifests/{reference}/scan")
        if response.status_code == 404:
            assert error_code(response) == "SCAN_UNKNOWN", response.text
            return None
        assert (response.status_code, error_code(response)) == (409, "SCAN_FAILED"), response.text
        return response.json()["errors"][0]  # type: ignore[no-any-return]

    return _eventually(check, timeout=60)


def _refusal(client: httpx.Client, repository: str, reference: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = client.get(f"/v2/{repository}/manifests/{reference}", headers=ACCEPT)
        if response.status_code != 403:
            return None  # the policy reaches every worker within a few seconds
        return response.json()["errors"][0]  # type: ignore[no-any-return]

    return _eventually(check)


@pytest.fixture(scope="module")
def clean_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CLEAN with a layer of its own: an image no other test pushes, so none has scanned it
    (a scan is kept per digest: CLEAN itself is scanned by test_scanning.py on the same
    servers, and would not be pending here when that module runs first)."""
    unique = [File("etc/build-id", uuid.uuid4().hex.encode())]
    spec = ImageSpec(layers=[*CLEAN.layers, unique])
    return oci_layout(tmp_path_factory.mktemp("failed-scans") / "layout", spec)


def test_a_failed_scan_is_refused_with_its_reason_and_told_apart_from_a_pending_one(
    registry: CargoholdServer, clean_layout: Path
) -> None:
    project = _project()
    broken, pending = f"{project}/broken", f"{project}/pending"
    with registry.client(timeout=60) as client:
        _policy(client, project, preventUnscanned=True)
        digest = _push_not_a_tar(client, broken, "1")
        error = _failed(client, broken, "1")
        assert error["detail"]["status"] == "failed"
        assert error["detail"]["digest"] == digest
        assert "not a readable tar stream" in error["detail"]["reason"]
        assert "rescan" in error["message"]

        refused = _refusal(client, broken, "1")
        assert refused["code"] == "DENIED"
        assert refused["detail"]["scanStatus"] == "failed"
        assert "not a readable tar stream" in refused["detail"]["reason"]
        assert f"the vulnerability scan of image {digest} failed" in refused["message"]
        assert "rescan" in refused["message"] and "not been scanned" not in refused["message"]

        # Pending is another answer: a push whose scan never ran (scan on push off).
        _policy(client, project, preventUnscanned=True, scanOnPush=False)
        time.sleep(2.5)  # every worker has the policy that turns scan on push off
        _push(registry, clean_layout, f"{pending}:1")
        unknown = client.get(f"/api/v1/repositories/{pending}/manifests/1/scan")
        assert (unknown.status_code, error_code(unknown)) == (404, "SCAN_UNKNOWN")
        assert unknown.json()["errors"][0]["detail"]["status"] == "pending"
        waiting = _refusal(client, pending, "1")
        assert waiting["detail"]["scanStatus"] == "pending"
        assert "has not been scanned for vulnerabilities yet" in waiting["message"]

        # Fail closed: a severity threshold alone refuses the failed image too (nothing about
        # it was checked), but lets the merely unscanned one through.
        _policy(client, project, preventSeverity="CRITICAL", scanOnPush=False)

        def settled() -> bool:
            fetched = client.get(f"/v2/{pending}/manifests/1", headers=ACCEPT)
            return fetched.status_code == 200

        _eventually(settled)
        again = client.get(f"/v2/{broken}/manifests/1", headers=ACCEPT)
        assert again.status_code == 403
        assert again.json()["errors"][0]["detail"]["scanStatus"] == "failed"

        # The remediation report lists it: its findings are unknown, not zero.
        report = client.get("/api/v1/vulnerabilities/overdue", params={"project": project})
        assert report.status_code == 200, report.text
        failed = report.json()["failedScans"]
        assert [(f["repository"], f["digest"], f["tags"], f["status"]) for f in failed] == [
            (broken, digest, ["1"], "failed")
        ]
        assert "not a readable tar stream" in failed[0]["reason"]

    scanned = _cli("scan", f"{registry.host}/{broken}:1", env=registry.cli_env)
    assert scanned.returncode == 1
    assert "Traceback" not in scanned.stderr
    [line] = scanned.stderr.strip().splitlines()
    assert line.startswith("error: scan failed:") or "scan failed:" in line, line
    assert "not a readable tar stream" in line and "--rescan" in line

    overdue = _cli(
        "overdue", "--project", project, "--registry", registry.url, env=registry.cli_env
    )
    assert overdue.returncode == 0, overdue.stderr
    assert "1 images could not be scanned" in overdue.stdout
    assert f"scan failed: {broken} (1)" in overdue.stdout


def _lose_blob(registry: CargoholdServer, request: pytest.FixtureRequest, digest: str) -> None:
    """Remove a blob from the server's storage behind its back (a file, or an S3 object)."""
    settings = registry.settings()
    if settings.storage_driver == "s3":
        seaweedfs: SeaweedServer = request.getfixturevalue("seaweedfs")
        key = KeyLayout(settings.s3_prefix).blob(digest)
        seaweedfs.client().delete_object(Bucket=settings.s3_bucket, Key=key)
        return
    stored = [p for p in registry.data_dir.rglob(f"*{digest.split(':', 1)[1]}*") if p.is_file()]
    assert stored, "the blob is a file under the server's data directory"
    for path in stored:
        path.unlink()


def test_a_rescan_that_loses_a_layer_blob_fails_and_says_why(
    registry: CargoholdServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # A layer of its own (blobs are stored once: another test's image must keep its layers).
    unique = [File("etc/build-id", uuid.uuid4().hex.encode())]
    layout = oci_layout(tmp_path / "layout", ImageSpec(layers=[*CLEAN.layers, unique]))
    repository = f"{_project()}/app"
    _push(registry, layout, f"{repository}:1")
    with registry.client(timeout=60) as client:
        result = _scan(client, repository, "1")
        assert result["status"] == "done"
        manifest = client.get(f"/v2/{repository}/manifests/1", headers=ACCEPT).json()
    _lose_blob(registry, request, manifest["layers"][-1]["digest"])

    rescanned = _cli("scan", "--rescan", f"{registry.host}/{repository}:1", env=registry.cli_env)
    assert rescanned.returncode == 1
    assert "Traceback" not in rescanned.stderr
    [line] = rescanned.stderr.strip().splitlines()
    assert "scan failed:" in line and "--rescan" in line, line
    assert "missing from the blob store" in line and "/tmp" not in line, line
    assert "bucket" not in line, line
    with registry.client(timeout=60) as client:
        error = _failed(client, repository, "1")
    assert error["detail"]["status"] == "failed"
    assert "missing from the blob store" in error["detail"]["reason"]


def test_the_overdue_report_lists_every_failed_scan_in_order(registry: CargoholdServer) -> None:
    project = _project()
    first, second = f"{project}/b-broken", f"{project}/a-broken"
    with registry.client(timeout=60) as client:
        digests = {
            repository: _push_not_a_tar(client, repository, "1") for repository in (first, second)
        }
        for repository in digests:
            _failed(client, repository, "1")
        report = client.get("/api/v1/vulnerabilities/overdue", params={"project": project})
        assert report.status_code == 200, report.text
        failed = report.json()["failedScans"]
    assert [(f["repository"], f["digest"], f["status"]) for f in failed] == [
        (second, digests[second], "failed"),
        (first, digests[first], "failed"),
    ]


def test_the_overdue_report_of_a_project_shows_no_other_project(
    registry: CargoholdServer,
) -> None:
    # `_` is a LIKE wildcard: "<base>_q" must not select the repositories of "<base>zq".
    base = _project()
    mine, other = f"{base}_q", f"{base}zq"
    with registry.client(timeout=60) as client:
        _push_not_a_tar(client, f"{other}/app", "1")
        _failed(client, f"{other}/app", "1")
        report = client.get("/api/v1/vulnerabilities/overdue", params={"project": mine})
        assert report.status_code == 200, report.text
        assert report.json()["failedScans"] == []
        listed = client.get("/api/v1/vulnerabilities/overdue", params={"project": other})
        assert [f["repository"] for f in listed.json()["failedScans"]] == [f"{other}/app"]
