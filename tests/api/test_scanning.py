"""Scanning in the registry: scan on push, stored results, pull prevention, allowlists, the
remediation report, and re-evaluation when the vulnerability database changes.

Images are built by the tests (a Debian 12 rootfs with a real dpkg status file, Python
dist-info) and pushed as they are over the registry API; the advisories are the real OSV
records in tests/data/osv.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from cargohold.meta.database import Database
from cargohold.meta.db import make_engine
from cargohold.meta.jobs import JobRunStore
from tests.scan.content import DATA, UMOCI, debian_base, dist_info, umoci_insert_image
from tests.scan.imagebuild import File, ImageSpec, OCILayout, oci_layout
from tests.support.images import push_layout
from tests.support.oci import error_code
from tests.support.processes import spawn, stop_group
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.support.times import seconds

OSV = Path(__file__).parents[1] / "data" / "osv"
SITE = "usr/lib/python3/dist-packages"
GLIBC_CVE = "CVE-2023-4911"
REQUESTS_CVE = "CVE-2023-32681"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
DAY = 86400.0

_projects = itertools.count()
T = TypeVar("T")


def _project() -> str:
    return f"scan{next(_projects)}-{int(time.time() * 1000) % 100000}"


def _eventually(check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll until `check` returns something truthy (policy caches live 2 s per process)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def _debian(glibc: str = "2.36-9+deb12u1", requests: str | None = "2.28.1") -> ImageSpec:
    status = (DATA / "dpkg" / "status-base").read_bytes()
    patched = status.replace(b"2.36-9+deb12u14", glibc.encode())
    base = [File(e.path, patched) if e.path == "var/lib/dpkg/status" else e for e in debian_base()]
    layers = [base] + ([dist_info(SITE, "requests", requests)] if requests else [])
    return ImageSpec(layers=layers)


VULNERABLE = _debian()
CLEAN = _debian(glibc="2.36-9+deb12u14", requests=None)


def _push(server: CargoholdServer, layout: Path, target: str) -> None:
    """Push the layout's `latest` (every platform of an index) as `target`, as its admin."""
    repository, _, tag = target.rpartition(":")
    with server.client(timeout=120) as client:
        push_layout(client, layout, "latest", repository, tag)


def _zip(directory: Path, names: list[str] | None, into: Path) -> bytes:
    with zipfile.ZipFile(into, "w") as archive:
        for path in sorted(directory.glob("*.json")):
            if names is None or path.stem in names:
                archive.write(path, path.name)
    return into.read_bytes()


def _import(client: httpx.Client, body: bytes, name: str) -> dict[str, Any]:
    response = client.post("/api/v1/vulndb/import", params={"name": name}, content=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _scan(
    client: httpx.Client, repository: str, reference: str, platforms: int = 1
) -> dict[str, Any]:
    """The stored scan, once every one of its `platforms` has been scanned."""

    def done() -> dict[str, Any] | None:
        response = client.get(f"/api/v1/repositories/{repository}/manifests/{reference}/scan")
        if response.status_code == 404:
            assert error_code(response) == "SCAN_UNKNOWN", response.text
            return None
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document if len(document["platforms"]) >= platforms else None

    return _eventually(done)


def _findings(result: dict[str, Any], platform: int = 0) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["id"], f["package"]["name"]): f for f in result["platforms"][platform]["findings"]}


def _status(client: httpx.Client, repository: str, reference: str) -> int:
    return client.get(f"/v2/{repository}/manifests/{reference}", headers=ACCEPT).status_code


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scan-images")
    index = OCILayout(root / "index")
    amd = ImageSpec(layers=VULNERABLE.layers, architecture="amd64")
    arm = ImageSpec(layers=CLEAN.layers, architecture="arm64", variant="v8")
    index.tag(index.index([amd, arm]), "latest")
    return {
        "vulnerable": oci_layout(root / "vulnerable", VULNERABLE),
        "clean": oci_layout(root / "clean", CLEAN),
        "index": root / "index",
    }


@pytest.fixture(scope="module")
def osv_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _zip(OSV, None, tmp_path_factory.mktemp("osv") / "all.zip")


@pytest.fixture
def loaded(client: httpx.Client, osv_zip: bytes) -> httpx.Client:
    """The shared registry with every test advisory imported (idempotent)."""
    _import(client, osv_zip, "test-advisories")
    return client


def test_push_is_scanned_and_results_come_in_every_format(
    registry: CargoholdServer, loaded: httpx.Client, layouts: dict[str, Path]
) -> None:
    repository = f"{_project()}/app"
    _push(registry, layouts["vulnerable"], f"{repository}:1")
    result = _scan(loaded, repository, "1")
    assert result["target"].startswith(f"{repository}@sha256:")
    platform = result["platforms"][0]
    assert platform["inventory"]["os"]["id"] == "debian"
    assert platform["dbVersion"] == loaded.get("/api/v1/vulndb").json()["version"]
    found = _findings(result)
    glibc = found[(GLIBC_CVE, "libc6")]
    assert glibc["severity"]["level"] == "HIGH"
    assert (glibc["installedVersion"], glibc["fixedVersion"]) == (
        "2.36-9+deb12u1",
        "2.36-9+deb12u3",
    )
    assert glibc["recordId"] in ("DSA-5514-1", "DEBIAN-CVE-2023-4911")
    assert seconds(glibc["firstSeenAt"]) >= seconds(platform["scannedAt"]) - 1
    assert found[(REQUESTS_CVE, "requests")]["fixedVersion"] == "2.31.0"

    base = f"/api/v1/repositories/{repository}/manifests/1/scan"
    trivy_like = loaded.get(base, params={"format": "json"}).json()
    ids = {v["id"] for r in trivy_like["results"] for v in r["vulnerabilities"]}
    assert {GLIBC_CVE, REQUESTS_CVE} <= ids
    sarif = loaded.get(base, params={"format": "sarif"}).json()
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    sbom = loaded.get(base, params={"format": "cyclonedx"}).json()
    assert sbom["specVersion"] == "1.5"
    assert any(c["name"] == "libc6" for c in sbom["components"])
    spdx = loaded.get(base, params={"format": "spdx"}).json()
    assert spdx["spdxVersion"] == "SPDX-2.3"
    response = loaded.get(base, params={"format": "xml"})
    assert (response.status_code, error_code(response)) == (400, "SCAN_INVALID")

    # The same image in another repository is not read again: its report is shared.
    _push(registry, layouts["vulnerable"], f"{repository}-copy:1")
    copy = _scan(loaded, f"{repository}-copy", "1")
    assert copy["platforms"][0]["scannedAt"] == platform["scannedAt"]


def test_pull_prevention_with_allowlists(
    registry: CargoholdServer, loaded: httpx.Client, layouts: dict[str, Path]
) -> None:
    project = _project()
    repository = f"{project}/app"
    _push(registry, layouts["vulnerable"], f"{repository}:1")
    _scan(loaded, repository, "1")
    assert _status(loaded, repository, "1") == 200
    policy = f"/api/v1/projects/{project}/scan-policy"
    stored = loaded.put(policy, json={"preventSeverity": "high"})
    assert stored.status_code == 200, stored.text
    assert stored.json()["preventSeverity"] == "HIGH"

    def refused() -> httpx.Response | None:
        response = loaded.get(f"/v2/{repository}/manifests/1", headers=ACCEPT)
        return response if response.status_code == 403 else None

    denied = _eventually(refused)
    assert error_code(denied) == "DENIED"
    message = denied.json()["errors"][0]["message"]
    assert GLIBC_CVE in message and "HIGH" in message and "libc" in message
    assert REQUESTS_CVE not in message  # MEDIUM is below the threshold
    # A HEAD (how clients check for an image) and pulls from other projects are not refused.
    assert loaded.head(f"/v2/{repository}/manifests/1", headers=ACCEPT).status_code == 200

    # An expired allowlist entry does not help; a current one does; removing it ends it.
    # (An expiry in the past is refused, so this one expires a second after it is added.)
    expired = loaded.post(
        "/api/v1/cve-allowlist",
        json={"id": GLIBC_CVE, "project": project, "reason": "old", "expiresAt": time.time() + 1},
    ).json()
    time.sleep(2.5)
    listed = loaded.get("/api/v1/cve-allowlist", params={"project": project}).json()["entries"]
    assert [e["active"] for e in listed if e["id"] == expired["id"]] == [False]
    assert _status(loaded, repository, "1") == 403
    entry = loaded.post(
        "/api/v1/cve-allowlist",
        json={
            "id": "DSA-5514-1",  # any id of the finding matches
            "project": project,
            "reason": "rebuilt next sprint",
            "expiresAt": time.time() + 30 * DAY,
        },
    )
    assert entry.status_code == 201, entry.text
    _eventually(lambda: _status(loaded, repository, "1") == 200)
    listed = loaded.get("/api/v1/cve-allowlist", params={"project": project}).json()["entries"]
    assert {e["id"] for e in listed} >= {entry.json()["id"], expired["id"]}
    assert loaded.delete(f"/api/v1/cve-allowlist/{entry.json()['id']}").status_code == 204
    _eventually(lambda: _status(loaded, repository, "1") == 403)

    # A system-wide entry counts in every project.
    system = loaded.post("/api/v1/cve-allowlist", json={"id": GLIBC_CVE, "reason": "all"}).json()
    assert system["project"] is None
    try:
        _eventually(lambda: _status(loaded, repository, "1") == 200)
    finally:
        loaded.delete(f"/api/v1/cve-allowlist/{system['id']}")
    _eventually(lambda: _status(loaded, repository, "1") == 403)

    # CRITICAL only: glibc (HIGH) passes. Removing the policy lifts the gate.
    assert loaded.put(policy, json={"preventSeverity": "CRITICAL"}).status_code == 200
    _eventually(lambda: _status(loaded, repository, "1") == 200)
    assert loaded.put(policy, json={"preventSeverity": "LOW"}).status_code == 200
    _eventually(lambda: _status(loaded, repository, "1") == 403)
    assert loaded.delete(policy).status_code == 204
    _eventually(lambda: _status(loaded, repository, "1") == 200)
    assert loaded.get(policy).json()["default"] is True
    events = loaded.get("/api/v1/audit", params={"project": project, "n": 200}).json()["events"]
    actions = {(e["action"], e["target"]) for e in events}
    assert ("scan-policy.set", project) in actions and ("scan-policy.remove", project) in actions
    assert ("cve-allowlist.add", project) in actions


def test_unscanned_images_are_refused_until_scanned_on_demand(
    registry: CargoholdServer, loaded: httpx.Client, layouts: dict[str, Path]
) -> None:
    project = _project()
    repository = f"{project}/app"
    policy = {"scanOnPush": False, "preventUnscanned": True}
    assert loaded.put(f"/api/v1/projects/{project}/scan-policy", json=policy).status_code == 200
    time.sleep(2.5)  # every server process sees the policy before the push
    _push(registry, layouts["clean"], f"{repository}:1")
    time.sleep(1)
    response = loaded.get(f"/v2/{repository}/manifests/1", headers=ACCEPT)
    assert (response.status_code, error_code(response)) == (403, "DENIED")
    assert "not been scanned" in response.json()["errors"][0]["message"]
    unscanned = loaded.get(f"/api/v1/repositories/{repository}/manifests/1/scan")
    assert (unscanned.status_code, error_code(unscanned)) == (404, "SCAN_UNKNOWN")

    queued = loaded.post(f"/api/v1/repositories/{repository}/manifests/1/scan")
    assert queued.status_code == 202, queued.text
    assert queued.json()["kind"] == "scan"

    def finished() -> dict[str, Any] | None:
        job = loaded.get(f"/api/v1/jobs/{queued.json()['id']}").json()
        return job if job["state"] in ("succeeded", "failed") else None

    job = _eventually(finished)
    assert job["state"] == "succeeded", job
    assert job["result"]["scanned"] == 1
    assert _status(loaded, repository, "1") == 200
    assert _findings(_scan(loaded, repository, "1")) == {}

    # Artifacts (a signature-like manifest) are not images: the gate lets them through.
    config = b"{}"
    digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    loaded.post(f"/v2/{repository}/blobs/uploads/", params={"digest": digest}, content=config)
    artifact = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest, "size": 2}],
    }
    put = loaded.put(
        f"/v2/{repository}/manifests/sig",
        content=json.dumps(artifact),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text
    assert _status(loaded, repository, "sig") == 200


def test_an_index_is_judged_by_its_worst_platform(
    registry: CargoholdServer, loaded: httpx.Client, layouts: dict[str, Path]
) -> None:
    project = _project()
    repository = f"{project}/multi"
    _push(registry, layouts["index"], f"{repository}:1")
    result = _scan(loaded, repository, "1", platforms=2)
    assert len(result["platforms"]) == 2
    by_arch = {p["inventory"]["platform"]["architecture"]: p for p in result["platforms"]}
    assert by_arch["arm64"]["findings"] == []
    assert any(f["id"] == GLIBC_CVE for f in by_arch["amd64"]["findings"])
    index = loaded.get(f"/v2/{repository}/manifests/1", headers=ACCEPT).json()
    children = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}

    loaded.put(f"/api/v1/projects/{project}/scan-policy", json={"preventSeverity": "HIGH"})
    _eventually(lambda: _status(loaded, repository, "1") == 403)
    assert _status(loaded, repository, children["amd64"]) == 403
    assert _status(loaded, repository, children["arm64"]) == 200


def test_remediation_deadlines(
    registry: CargoholdServer, loaded: httpx.Client, layouts: dict[str, Path]
) -> None:
    project = _project()
    repository = f"{project}/app"
    _push(registry, layouts["vulnerable"], f"{repository}:1")
    _scan(loaded, repository, "1")
    now = time.time()

    def overdue(days: float) -> dict[str, Any]:
        params = {"project": project, "at": str(now + days * DAY)}
        response = loaded.get("/api/v1/vulnerabilities/overdue", params=params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    assert overdue(0)["findings"] == []
    assert overdue(0)["slaDays"] == {"CRITICAL": 1, "HIGH": 7, "MEDIUM": 30}
    week = overdue(8)
    assert {(f["id"], f["severity"]) for f in week["findings"]} == {(GLIBC_CVE, "HIGH")}
    assert all(f["repository"] == repository and f["tags"] == ["1"] for f in week["findings"])
    assert week["images"][0]["overdue"] == {"HIGH": 2}  # libc6 and libc-bin
    month = overdue(31)
    assert {f["id"] for f in month["findings"]} == {GLIBC_CVE, REQUESTS_CVE}
    entry = loaded.post(
        "/api/v1/cve-allowlist", json={"id": GLIBC_CVE, "project": project, "reason": "accepted"}
    ).json()
    try:
        assert {f["id"] for f in overdue(31)["findings"]} == {REQUESTS_CVE}
    finally:
        loaded.delete(f"/api/v1/cve-allowlist/{entry['id']}")
    # ?at= takes RFC 3339 (as the report shows `at`) as well as UNIX seconds: one moment.
    moment = dt.datetime.fromtimestamp(now + 8 * DAY, dt.UTC)
    for at in (moment.isoformat().replace("+00:00", "Z"), moment.isoformat()):
        params = {"project": project, "at": at}
        same = loaded.get("/api/v1/vulnerabilities/overdue", params=params)
        assert same.status_code == 200, same.text
        assert seconds(same.json()["at"]) == pytest.approx(now + 8 * DAY, abs=1e-3)
        assert {**same.json(), "at": None} == {**week, "at": None}
    assert seconds(week["at"]) == pytest.approx(now + 8 * DAY, abs=1e-3)
    # A date alone is its midnight in UTC, as everywhere in the admin API's queries.
    midnight = loaded.get(
        "/api/v1/vulnerabilities/overdue", params={"project": project, "at": "2027-01-31"}
    )
    assert midnight.status_code == 200, midnight.text
    assert seconds(midnight.json()["at"]) == dt.datetime(2027, 1, 31, tzinfo=dt.UTC).timestamp()
    for bad in ("tomorrow", "nan", "1e9", "-5", "2027-01-31T00:00:00", "2027-13-01"):
        response = loaded.get("/api/v1/vulnerabilities/overdue", params={"at": bad})
        assert (response.status_code, error_code(response)) == (400, "SCAN_INVALID"), bad
        assert "RFC 3339" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/v1/projects/p/scan-policy", {"preventSeverity": "SEVERE"}, "SCAN_POLICY_INVALID"),
        ("/api/v1/projects/p/scan-policy", {"gate": True}, "SCAN_POLICY_INVALID"),
        ("/api/v1/projects/p/scan-policy", {"scanOnPush": "yes"}, "SCAN_POLICY_INVALID"),
        ("/api/v1/cve-allowlist", {"reason": "no id"}, "ALLOWLIST_INVALID"),
        ("/api/v1/cve-allowlist", {"id": "CVE-1", "expiresAt": "soon"}, "ALLOWLIST_INVALID"),
        ("/api/v1/cve-allowlist", {"id": "CVE-1", "expiresAt": 1.0}, "ALLOWLIST_INVALID"),
        ("/api/v1/cve-allowlist", {"id": "CVE-1", "expiresAt": True}, "ALLOWLIST_INVALID"),
        ("/api/v1/cve-allowlist", {"id": "CVE-1", "expiresAt": [1]}, "ALLOWLIST_INVALID"),
        # A date alone, a time without a zone, and a time before 1970 are not expiries.
        ("/api/v1/cve-allowlist", {"id": "CVE-1", "expiresAt": "2099-01-31"}, "ALLOWLIST_INVALID"),
        (
            "/api/v1/cve-allowlist",
            {"id": "CVE-1", "expiresAt": "2099-01-31T00:00:00"},
            "ALLOWLIST_INVALID",
        ),
        (
            "/api/v1/cve-allowlist",
            {"id": "CVE-1", "expiresAt": "1969-12-31T00:00:00Z"},
            "ALLOWLIST_INVALID",
        ),
        (
            "/api/v1/cve-allowlist",
            {"id": "CVE-1", "expiresAt": "2000-01-01T00:00:00Z"},
            "ALLOWLIST_INVALID",
        ),
    ],
)
def test_invalid_scan_requests(client: httpx.Client, path: str, body: Any, code: str) -> None:
    method = client.put if path.endswith("scan-policy") else client.post
    response = method(path, json=body)
    assert (response.status_code, error_code(response)) == (400, code), response.text


def test_an_allowlist_expiry_is_rfc3339_or_unix_seconds(client: httpx.Client) -> None:
    """expiresAt is sent as responses show it (RFC 3339) or as UNIX seconds: one moment."""
    project = _project()
    shown = "2099-01-31T00:00:00Z"
    created = []
    try:
        unix = int(dt.datetime(2099, 1, 31, tzinfo=dt.UTC).timestamp())
        for sent in (shown, unix, float(unix), "2099-01-31T01:00:00+01:00"):
            response = client.post(
                "/api/v1/cve-allowlist",
                json={"id": GLIBC_CVE, "project": project, "expiresAt": sent},
            )
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
            assert response.json()["expiresAt"] == shown, sent
            assert response.json()["active"] is True
        listed = client.get("/api/v1/cve-allowlist", params={"project": project}).json()
        assert {e["expiresAt"] for e in listed["entries"] if e["id"] in created} == {shown}
    finally:
        for entry_id in created:
            client.delete(f"/api/v1/cve-allowlist/{entry_id}")
    response = client.post("/api/v1/cve-allowlist", json={"id": GLIBC_CVE, "expiresAt": "soon"})
    assert (response.status_code, error_code(response)) == (400, "ALLOWLIST_INVALID")
    message = response.json()["errors"][0]["message"]
    assert message.startswith("expiresAt: ") and "RFC 3339" in message and "UNIX" in message


def test_job_results_older_versions_stored_are_served_in_todays_shape(
    registry: CargoholdServer, client: httpx.Client
) -> None:
    """Rows an older version wrote (before the scanning documents were camelCase) keep being
    read: `matched_again` is served as `matchedAgain`, and a vulndb-update's unreadable
    sources move from `imports` to `failures`."""
    url = registry.database_url or f"sqlite:///{registry.data_dir.resolve() / 'cargohold.db'}"
    engine = make_engine(url)
    runs = JobRunStore(Database(engine))
    reevaluate, update = uuid.uuid4().hex, uuid.uuid4().hex
    imported = {"name": "osv", "location": "/srv/osv.zip", "added": 3, "packagesTouched": 2}
    try:
        # As an older version wrote them: through the same metadata layer, with its keys.
        runs.create(reevaluate, "reevaluate", {}, "api", "admin")
        runs.finished(reevaluate, {"reports": 3, "matched_again": 2, "seconds": 0.25})
        runs.create(update, "vulndb-update", {}, "schedule", "schedule")
        old = {"location": "/srv/gone.zip", "error": "/srv/gone.zip: no such file or directory"}
        runs.finished(
            update,
            {
                "imports": [imported, old],
                "reevaluation": {"reports": 3, "matched_again": 0, "seconds": 0.5},
            },
        )
    finally:
        engine.dispose()
    job = client.get(f"/api/v1/jobs/{reevaluate}").json()
    assert job["result"] == {"reports": 3, "matchedAgain": 2, "seconds": 0.25}
    listed = client.get("/api/v1/jobs", params={"kind": "vulndb-update", "n": 100}).json()
    (job,) = [j for j in listed["jobs"] if j["id"] == update]
    assert job["result"] == {
        "imports": [imported],
        "failures": [old],
        "reevaluation": {"reports": 3, "matchedAgain": 0, "seconds": 0.5},
    }


def test_unknown_things(client: httpx.Client) -> None:
    response = client.delete("/api/v1/cve-allowlist/999999")
    assert (response.status_code, error_code(response)) == (404, "ALLOWLIST_UNKNOWN")
    response = client.get("/api/v1/repositories/no/such-repo/manifests/1/scan")
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")
    response = client.post("/api/v1/vulndb/import", content=b"not a zip, not json")
    assert (response.status_code, error_code(response)) == (400, "VULNDB_IMPORT_INVALID")
    response = client.post("/api/v1/vulndb/import", content=b"")
    assert (response.status_code, error_code(response)) == (400, "VULNDB_IMPORT_INVALID")


def test_a_new_advisory_reaches_a_stored_image_without_reading_its_layers(
    tmp_path: Path, layouts: dict[str, Path]
) -> None:
    server = CargoholdServer(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as client:
            debian = ["DSA-5514-1", "DEBIAN-CVE-2023-4911", "CVE-2023-4911"]
            first = _import(client, _zip(OSV, debian, tmp_path / "debian.zip"), "debian")
            assert first["added"] == 3
            _push(server, layouts["vulnerable"], "team/app:1")
            before = _scan(client, "team/app", "1")
            assert {f for f, _ in _findings(before)} == {GLIBC_CVE, "CVE-2023-4806"}
            glibc_seen = _findings(before)[(GLIBC_CVE, "libc6")]["firstSeenAt"]

            pypi = [p.stem for p in OSV.glob("*.json") if "requests" in p.read_text()]
            second = _import(client, _zip(OSV, pypi, tmp_path / "pypi.zip"), "pypi")
            assert second["added"] >= 1 and second["reevaluationJob"]

            def reevaluated() -> dict[str, Any] | None:
                job = client.get(f"/api/v1/jobs/{second['reevaluationJob']}").json()
                return job if job["state"] == "succeeded" else None

            job = _eventually(reevaluated)
            assert job["result"]["matchedAgain"] == 1
            after = _scan(client, "team/app", "1")
            platform = after["platforms"][0]
            assert platform["scannedAt"] == before["platforms"][0]["scannedAt"]  # layers not read
            assert seconds(platform["evaluatedAt"]) > seconds(before["platforms"][0]["evaluatedAt"])
            assert platform["dbVersion"] == second["version"] != before["platforms"][0]["dbVersion"]
            found = _findings(after)
            assert (REQUESTS_CVE, "requests") in found
            assert found[(GLIBC_CVE, "libc6")]["firstSeenAt"] == glibc_seen
            requests_seen = found[(REQUESTS_CVE, "requests")]["firstSeenAt"]
            assert seconds(requests_seen) > seconds(glibc_seen)

            # An import that touches none of its packages only moves the version.
            npm = [p.stem for p in OSV.glob("*.json") if '"npm"' in p.read_text()]
            third = _import(client, _zip(OSV, npm, tmp_path / "npm.zip"), "npm")
            job = client.get(f"/api/v1/jobs/{third['reevaluationJob']}").json()
            job = _eventually(
                lambda: (
                    (j := client.get(f"/api/v1/jobs/{job['id']}").json())["state"] == "succeeded"
                    and j
                )
            )
            assert job["result"]["matchedAgain"] == 0
            assert _scan(client, "team/app", "1")["platforms"][0]["dbVersion"] == third["version"]
    finally:
        server.stop()


def _as_an_older_scanner_stored_it(registry: CargoholdServer, digest: str) -> None:
    """The stored inventory of `digest` rewritten as a version before inventory versions
    would have left it: no version recorded, and without the Python package (as if that
    version had no reader for it)."""
    url = registry.database_url or f"sqlite:///{registry.data_dir.resolve() / 'cargohold.db'}"
    engine = make_engine(url)
    try:
        db = Database(engine)
        row = db.one("SELECT inventory FROM scan_reports WHERE digest = ?", (digest,))
        assert row is not None
        stored = json.loads(row[0])
        for key in ("inventoryVersion", "matchingVersion"):
            stored[0].pop(key)
        stored[0]["packages"] = [p for p in stored[0]["packages"] if p["type"] != "pypi"]
        with db.transaction() as tx:
            tx.execute(
                "UPDATE scan_reports SET inventory = ? WHERE digest = ?",
                (json.dumps(stored), digest),
            )
    finally:
        engine.dispose()


def _pypi(result: dict[str, Any]) -> list[str]:
    return [
        p["name"] for p in result["platforms"][0]["inventory"]["packages"] if p["type"] == "pypi"
    ]


def test_inventories_an_older_scanner_stored_are_read_again(
    registry: CargoholdServer, loaded: httpx.Client, layouts: dict[str, Path]
) -> None:
    """A stored inventory records the version of the readers that made it: one made before a
    reader was added or fixed is flagged `stale`, and read from its layers again by the next
    reevaluate job or by a scan asked for, so its old result does not stand."""
    repository = f"{_project()}/app"
    _push(registry, layouts["vulnerable"], f"{repository}:1")
    fresh = _scan(loaded, repository, "1")
    assert fresh["platforms"][0]["stale"] is False and _pypi(fresh) == ["requests"]
    digest = fresh["platforms"][0]["inventory"]["digest"]

    def stored_by_an_older_scanner() -> dict[str, Any] | None:
        _as_an_older_scanner_stored_it(registry, digest)
        result = _scan(loaded, repository, "1")
        # A scan the push queued (the index's, after its platform's) may still run and read
        # the layers again after the rewrite: then rewrite again.
        return result if result["platforms"][0]["stale"] else None

    old = _eventually(stored_by_an_older_scanner)
    assert old["platforms"][0]["stale"] is True and _pypi(old) == []
    job = loaded.post("/api/v1/jobs", json={"kind": "reevaluate", "args": {}})
    assert job.status_code in (200, 201, 202), job.text

    def rescanned() -> dict[str, Any] | None:
        result = _scan(loaded, repository, "1")
        return None if result["platforms"][0]["stale"] else result

    after = _eventually(rescanned)
    assert _pypi(after) == ["requests"] and (REQUESTS_CVE, "requests") in _findings(after)
    assert seconds(after["platforms"][0]["scannedAt"]) > seconds(old["platforms"][0]["scannedAt"])
    done = _eventually(
        lambda: (
            (j := loaded.get(f"/api/v1/jobs/{job.json()['id']}").json())["state"] == "succeeded"
            and j
        )
    )
    assert done["result"]["rescanned"] in (0, 1)  # 0: another job got to it first

    # A scan asked for (what `cargohold scan` does on a stale result) reads it again too.
    _as_an_older_scanner_stored_it(registry, digest)
    asked = loaded.post(f"/api/v1/repositories/{repository}/manifests/1/scan")
    assert asked.status_code in (200, 202), asked.text
    again = _eventually(rescanned)
    assert _pypi(again) == ["requests"]


def test_an_image_whose_os_packages_could_not_be_read_is_refused(
    registry: CargoholdServer, loaded: httpx.Client, tmp_path: Path
) -> None:
    """A damaged BerkeleyDB rpmdb cannot be read: never a clean pass under a severity gate."""
    project = _project()
    repository = f"{project}/legacy"
    os_release = b'ID=centos\nVERSION_ID="7"\nNAME="CentOS Linux"\n'
    berkeley = b"\0" * 12 + b"\x61\x15\x06\x00" + b"\0" * 4080
    spec = ImageSpec(
        layers=[[File("etc/os-release", os_release), File("var/lib/rpm/Packages", berkeley)]]
    )
    _push(registry, oci_layout(tmp_path / "legacy", spec), f"{repository}:7")
    result = _scan(loaded, repository, "7")
    problems = result["platforms"][0]["inventory"]["problems"]
    assert [p["code"] for p in problems] == ["os-packages-not-inventoried"]
    assert _status(loaded, repository, "7") == 200  # no policy: served
    policy = {"preventSeverity": "CRITICAL"}
    assert loaded.put(f"/api/v1/projects/{project}/scan-policy", json=policy).status_code == 200
    denied = _eventually(
        lambda: (
            (r := loaded.get(f"/v2/{repository}/manifests/7", headers=ACCEPT)).status_code == 403
            and r
        )
    )
    assert "could not be fully scanned" in denied.json()["errors"][0]["message"]


@pytest.mark.skipif(UMOCI is None, reason="umoci is missing: apt-get install umoci")
def test_a_layer_umoci_insert_left_unclosed_is_scanned_with_a_warning(
    registry: CargoholdServer, loaded: httpx.Client, tmp_path: Path
) -> None:
    """umoci 0.4.7's `insert` writes layers without their end-of-archive blocks: every file
    is read, and the stored scan says so on that layer."""
    repository = f"{_project()}/umoci"
    _push(registry, umoci_insert_image(tmp_path), f"{repository}:1")
    inventory = _scan(loaded, repository, "1")["platforms"][0]["inventory"]
    assert len(inventory["packages"]) == 12
    (problem,) = inventory["problems"]
    assert problem["code"] == "truncated-layer"
    assert problem["layer"] == inventory["layers"][0]
    assert "ends without the end-of-archive blocks" in problem["message"]
    assert _status(loaded, repository, "1") == 200


def test_configured_sources_are_imported_on_schedule(tmp_path: Path) -> None:
    archive = tmp_path / "osv.zip"
    _zip(OSV, None, archive)
    missing = tmp_path / "gone.zip"
    server = CargoholdServer(
        tmp_path / "data",
        extra_env={
            "CARGOHOLD_VULNDB_SOURCES": f"{archive}, {missing}",
            "CARGOHOLD_VULNDB_SCHEDULE": "* * * * *",  # due at once: fires when the server starts
            "CARGOHOLD_LIFECYCLE_SCHEDULE": "off",
            "CARGOHOLD_GC_SCHEDULE": "off",
        },
    ).start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:

            def updated() -> dict[str, Any] | None:
                jobs = client.get("/api/v1/jobs", params={"kind": "vulndb-update"}).json()["jobs"]
                return next((j for j in jobs if j["state"] == "succeeded"), None)

            job = _eventually(updated)
            assert job["trigger"] == "schedule"
            (imported,) = job["result"]["imports"]
            assert imported["location"] == str(archive)
            assert imported["added"] == len(list(OSV.glob("*.json")))
            (failure,) = job["result"]["failures"]
            assert failure["location"] == str(missing)
            assert "no such file or directory" in failure["error"]
            status = client.get("/api/v1/vulndb").json()
            assert status["records"] == len(list(OSV.glob("*.json")))
            assert [s["location"] for s in status["sources"]] == [str(archive)]
    finally:
        server.stop()


def test_a_separate_worker_runs_the_jobs_of_servers_that_run_none(
    tmp_path: Path, layouts: dict[str, Path], osv_zip: bytes
) -> None:
    data = tmp_path / "data"
    server = CargoholdServer(data, extra_env={"CARGOHOLD_JOB_WORKERS": "0"}).start()
    worker = None
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
            _import(client, osv_zip, "advisories")
            _push(server, layouts["vulnerable"], "team/app:1")
            time.sleep(1.5)
            response = client.get("/api/v1/repositories/team/app/manifests/1/scan")
            assert (response.status_code, error_code(response)) == (404, "SCAN_UNKNOWN")

            log = tmp_path / "worker.log"
            env = {**os.environ, "CARGOHOLD_LOG_FORMAT": "json"}
            worker = spawn([CARGOHOLD, "worker", "--data-dir", str(data)], env, log)
            result = _scan(client, "team/app", "1")
            assert (GLIBC_CVE, "libc6") in _findings(result)
        stop_group(worker)
        assert worker.returncode == 0, log.read_text()
        assert "job threads" in log.read_text()
    finally:
        stop_group(worker)
        server.stop()
