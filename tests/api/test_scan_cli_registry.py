"""The CLI against a cargohold server: vulndb import into it, `cargohold scan` of images it
holds (stored results, or a scan it runs now), scan policies, the allowlist, overdue findings."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_scanning import (
    GLIBC_CVE,
    OSV,
    REQUESTS_CVE,
    VULNERABLE,
    _project,
    _push,
    _scan,
)
from tests.scan.imagebuild import File, ImageSpec, oci_layout
from tests.support.server import CARGOHOLD, CargoholdServer


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CARGOHOLD_REGISTRY"}
    environment["COLUMNS"] = "200"
    return subprocess.run(
        [CARGOHOLD, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment | (env or {}),
    )


@pytest.fixture(scope="module")
def vulnerable_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return oci_layout(tmp_path_factory.mktemp("cli-scan") / "layout", VULNERABLE)


def test_vulndb_import_into_the_registry_then_scan_its_images(
    registry: CargoholdServer, vulnerable_layout: Path, tmp_path: Path
) -> None:
    url = ["--registry", registry.url]
    imported = _cli("vulndb", "import", str(OSV), "--name", "cli-test", *url)
    assert imported.returncode == 0, imported.stderr
    assert f"imported {OSV} into {registry.url}" in imported.stdout
    status = json.loads(_cli("vulndb", "status", "--json", *url).stdout)
    assert status["records"] >= 18
    assert any(s["name"] == "cli-test" for s in status["sources"])

    repository = f"{_project()}/app"
    _push(registry, vulnerable_layout, f"{repository}:1")
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as client:
        _scan(client, repository, "1")

    # HOST/REPO:TAG: the server is the host named (http on loopback).
    report = _cli("scan", f"{registry.host}/{repository}:1", "--format", "json")
    assert report.returncode == 0, report.stderr
    document = json.loads(report.stdout)
    found = {(v["id"], v["pkgName"]) for r in document["results"] for v in r["vulnerabilities"]}
    assert {(GLIBC_CVE, "libc6"), (REQUESTS_CVE, "requests")} <= found

    gate = ["scan", f"{registry.host}/{repository}:1", "--exit-code", "3"]
    assert _cli(*gate, "--severity", "CRITICAL").returncode == 0
    failed = _cli(*gate, "--severity", "CRITICAL,HIGH")
    assert failed.returncode == 3
    assert GLIBC_CVE in failed.stdout and REQUESTS_CVE not in failed.stdout
    ignore = tmp_path / ".trivyignore"
    ignore.write_text(f"{GLIBC_CVE}\n")
    ignored = _cli(*gate, "--severity", "CRITICAL,HIGH", "--ignorefile", str(ignore))
    assert ignored.returncode == 0

    # REPO@DIGEST on the --registry server (or CARGOHOLD_REGISTRY), SARIF to a file.
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as client:
        digest = client.head(
            f"/v2/{repository}/manifests/1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).headers["Docker-Content-Digest"]
    sarif = tmp_path / "results.sarif"
    by_digest = _cli(
        "scan",
        f"{repository}@{digest}",
        "-f",
        "sarif",
        "-o",
        str(sarif),
        env={"CARGOHOLD_REGISTRY": registry.url},
    )
    assert by_digest.returncode == 0, by_digest.stderr
    assert any(
        r["ruleId"] == GLIBC_CVE for r in json.loads(sarif.read_text())["runs"][0]["results"]
    )


def test_scan_of_an_unscanned_image_waits_for_the_server(
    registry: CargoholdServer, tmp_path: Path
) -> None:
    project = _project()
    # An image of its own: reports are shared by digest, so it must be new to the registry.
    unique = ImageSpec(layers=[*VULNERABLE.layers, [File("etc/hostname", project.encode())]])
    layout = oci_layout(tmp_path / "layout", unique)
    url = ["--registry", registry.url]
    off = _cli("scan-policy", "set", project, "--no-scan-on-push", *url)
    assert off.returncode == 0, off.stderr
    assert f"{project}: scan on push off" in off.stdout
    time.sleep(2.5)  # every server process sees the policy before the push
    _push(registry, layout, f"{project}/app:2")
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as client:
        before = client.get(f"/api/v1/repositories/{project}/app/manifests/2/scan")
    assert before.status_code == 404, before.text
    report = _cli("scan", f"{project}/app:2", "--format", "json", *url)
    assert report.returncode == 0, report.stderr
    assert GLIBC_CVE in report.stdout


def test_scan_policy_allowlist_and_overdue_commands(
    registry: CargoholdServer, vulnerable_layout: Path
) -> None:
    project = _project()
    url = ["--registry", registry.url]
    repository = f"{project}/app"
    _push(registry, vulnerable_layout, f"{repository}:1")
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as client:
        _scan(client, repository, "1")

    shown = _cli("scan-policy", "show", project, *url)
    assert "(defaults: no policy set)" in shown.stdout
    set_ = _cli("scan-policy", "set", project, "--prevent-severity", "HIGH", *url)
    assert set_.returncode == 0, set_.stderr
    assert "refuse pulls at HIGH" in set_.stdout
    listed = json.loads(_cli("scan-policy", "list", "--json", *url).stdout)
    assert any(p["project"] == project and p["preventSeverity"] == "HIGH" for p in listed)
    bad = _cli("scan-policy", "set", project, "--prevent-severity", "SEVERE", *url)
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith(
        "SCAN_POLICY_INVALID: preventSeverity must be CRITICAL, HIGH, MEDIUM, LOW or null"
    )

    week = _cli("overdue", "--project", project, "--in-days", "8", "--json", *url)
    assert {f["id"] for f in json.loads(week.stdout)["findings"]} == {GLIBC_CVE}
    table = _cli("overdue", "--project", project, "--in-days", "8", *url)
    assert GLIBC_CVE in table.stdout and "overdue findings in 1 images" in table.stdout

    added = _cli(
        "allowlist", "add", GLIBC_CVE, "--project", project, "--expires", "2099-01-01", *url
    )
    assert added.returncode == 0, added.stderr
    entry_id = added.stdout.split()[2].rstrip(":")
    entries = json.loads(_cli("allowlist", "list", "--project", project, "--json", *url).stdout)
    (entry,) = [e for e in entries if str(e["id"]) == entry_id]
    assert entry["active"] and entry["expiresAt"] == "2099-01-01T00:00:00Z"
    listed_table = _cli("allowlist", "list", "--project", project, *url)
    assert "2099-01-01 00:00:00 UTC" in listed_table.stdout
    week = _cli("overdue", "--project", project, "--in-days", "8", "--json", *url)
    assert json.loads(week.stdout)["findings"] == []
    assert _cli("allowlist", "remove", entry_id, *url).returncode == 0
    gone = _cli("allowlist", "remove", entry_id, *url)
    assert gone.returncode == 1 and "ALLOWLIST_UNKNOWN" in gone.stderr
    bad_date = _cli("allowlist", "add", GLIBC_CVE, "--expires", "next week", *url)
    assert bad_date.returncode == 2
    assert _cli("scan-policy", "remove", project, *url).returncode == 0


def test_registry_scan_errors_are_one_line(registry: CargoholdServer) -> None:
    cases = [
        (["scan", "team/app:1"], "not a local image and no registry named"),
        (["scan", "team/app:1", "--registry", registry.url], "NAME_UNKNOWN"),
        (["scan", f"{registry.host}/team/app@sha256:abc"], "is not a digest"),
        (["scan", f"{registry.host}/team/app:bad tag"], "is not a tag"),
        (["scan", "team/app:1", "--registry", "http://127.0.0.1:1"], "cannot reach"),
        (["vulndb", "import", "/no/such/dir", "--registry", registry.url], "no such file"),
    ]
    for args, message in cases:
        result = _cli(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
