"""Real responses from a running server validate against the OpenAPI document it serves.

The component schemas are generated from the response models (api/models/), and they forbid
keys they do not list: a response with a key the document does not describe, a missing key, a
time that is not RFC 3339 or a wrong type fails here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.api.test_scanning import GLIBC_CVE, OSV, VULNERABLE, _eventually, _push, _scan, _zip
from tests.scan.imagebuild import oci_layout
from tests.support.oci import push_image
from tests.support.server import CargoholdServer
from tests.support.signing import SigningKey

# Concrete URLs for the documented paths whose JSON responses are checked; `{repo}` and
# `{project}` are filled in with what the test pushed.
GETS = {
    "/api/v1/system": "/api/v1/system",
    "/api/v1/repositories": "/api/v1/repositories",
    "/api/v1/repositories/{name}/tags": "/api/v1/repositories/{repo}/tags",
    "/api/v1/audit": "/api/v1/audit",
    "/api/v1/storage": "/api/v1/storage",
    "/api/v1/projects/{project}/quota": "/api/v1/projects/{project}/quota",
    "/api/v1/tag-rules": "/api/v1/tag-rules",
    "/api/v1/holds": "/api/v1/holds",
    "/api/v1/repositories/{name}/lifecycle": "/api/v1/repositories/{repo}/lifecycle",
    "/api/v1/jobs": "/api/v1/jobs",
}
TRUST = "/api/v1/projects/{project}/trust"
TRUST_KEYS = "/api/v1/projects/{project}/trust/keys"
# Keeps the newest `v` image: pushing two expires one.
POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["v"],
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        }
    ]
}


def _validate(document: dict[str, Any], schema: dict[str, Any], body: object) -> None:
    # The schema's $refs point into the OpenAPI document's components.
    root = {**schema, "components": document["components"]}
    validator = jsonschema.Draft202012Validator(
        root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def _response_schema(document: dict[str, Any], path: str, method: str, status: str) -> Any:
    response = document["paths"][path][method]["responses"][status]
    return response["content"]["application/json"]["schema"]


@pytest.fixture
def document(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_responses_validate_against_the_documented_schemas(
    client: httpx.Client, repo: str, document: dict[str, Any]
) -> None:
    project = repo.replace("/", "-")  # a project of this test's own (quota, rule, hold)
    name = f"{project}/app"
    push_image(client, name, "v1", layers=[b"x" * 100])
    push_image(client, name, "v2", layers=[b"y" * 100])
    client.get(f"/v2/{name}/manifests/v1")  # a pull, so lastPulledAt may be set

    def check(response: httpx.Response, path: str, method: str, status: int) -> None:
        assert response.status_code == status, (path, method, response.text)
        assert response.headers["content-type"] == "application/json"
        schema = _response_schema(document, path, method, str(status))
        _validate(document, schema, response.json())

    quota = client.put(f"/api/v1/projects/{project}/quota", json={"limitBytes": 10**9})
    check(quota, "/api/v1/projects/{project}/quota", "put", 200)
    rule = client.post(
        "/api/v1/tag-rules", json={"scope": "project", "target": project, "pattern": "v*"}
    )
    check(rule, "/api/v1/tag-rules", "post", 201)
    hold = client.post(
        "/api/v1/holds",
        json={"scope": "repository", "target": name, "reason": "schema", "until": "2099-01-01"},
    )
    check(hold, "/api/v1/holds", "post", 201)
    policy = client.put(f"/api/v1/repositories/{name}/lifecycle", json=POLICY)
    check(policy, "/api/v1/repositories/{name}/lifecycle", "put", 200)
    assert policy.json()["images"], "the preview lists the images"
    preview = client.post(f"/api/v1/repositories/{name}/lifecycle/preview", content=b"")
    check(preview, "/api/v1/repositories/{name}/lifecycle/preview", "post", 200)
    applied = client.post(f"/api/v1/repositories/{name}/lifecycle/apply")
    check(applied, "/api/v1/repositories/{name}/lifecycle/apply", "post", 200)
    assert any(image["heldBy"] for image in applied.json()["images"]), "the hold keeps v1"
    job = client.post("/api/v1/jobs", json={"kind": "lifecycle", "args": {"repository": name}})
    check(job, "/api/v1/jobs", "post", 202)
    check(client.get(f"/api/v1/jobs/{job.json()['id']}"), "/api/v1/jobs/{job_id}", "get", 200)
    for path, url in GETS.items():
        check(client.get(url.format(repo=name, project=project)), path, "get", 200)
    for created, kind in ((rule, "tag-rules"), (hold, "holds")):
        assert client.delete(f"/api/v1/{kind}/{created.json()['id']}").status_code == 204
    assert client.delete(f"/api/v1/projects/{project}/quota").status_code == 204

    # Signature enforcement's routes (the signatures extension's), described by their models.
    trust, keys = f"/api/v1/projects/{project}/trust", f"/api/v1/projects/{project}/trust/keys"
    key = SigningKey.generate()
    check(client.post(keys, json={"pem": key.pem}), TRUST_KEYS, "post", 201)
    check(client.get(keys), TRUST_KEYS, "get", 200)
    check(client.put(trust, json={"enforce": False}), TRUST, "put", 200)
    check(client.get(trust), TRUST, "get", 200)
    assert client.delete(f"{keys}/{key.fingerprint}").status_code == 204


def test_a_response_with_an_undocumented_key_fails_validation(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    """The check above can fail: the schemas forbid keys they do not describe."""
    body = client.get("/api/v1/system").json()
    body["counts"]["blob_bytes"] = 1
    with pytest.raises(AssertionError):
        _validate(document, _response_schema(document, "/api/v1/system", "get", "200"), body)


def test_times_are_rfc3339_utc(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    row = client.get(f"/api/v1/repositories/{repo}/tags").json()["tags"][0]
    assert row["pushedAt"].endswith("Z") and row["pushedAt"][10] == "T"
    assert row["lastPulledAt"] is None
    assert isinstance(row["sizeBytes"], int)


@pytest.mark.parametrize(
    ("path", "params"),
    [("/api/v1/gc", {"dryRun": "true", "untagged": "true"}), ("/api/v1/fsck", {})],
)
def test_streamed_lines_validate_against_the_documented_event_schema(
    client: httpx.Client, repo: str, document: dict[str, Any], path: str, params: dict[str, str]
) -> None:
    """Each NDJSON line of gc (a dry run) and fsck (no repair) is one documented event."""
    push_image(client, repo, "v1")
    response = client.post(path, params=params, timeout=120)
    assert response.status_code == 200, response.text
    content = document["paths"][path]["post"]["responses"]["200"]["content"]
    schema = content["application/x-ndjson"]["schema"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[-1]["event"] == "done", lines[-1]
    for line in lines:
        _validate(document, schema, line)


def _component(document: dict[str, Any], name: str) -> dict[str, str]:
    assert name in document["components"]["schemas"], name
    return {"$ref": f"#/components/schemas/{name}"}


def _finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["state"] in ("succeeded", "failed") else None

    job = _eventually(done, timeout=120)
    assert job["state"] == "succeeded", job
    return job


def test_scanning_responses_validate_against_the_documented_schemas(
    registry: CargoholdServer,
    client: httpx.Client,
    document: dict[str, Any],
    tmp_path: Path,
) -> None:
    """A scanned image with findings: its stored result (and each rendering), the scan
    policy, the allowlist, the vulnerability database, the overdue report and the jobs a
    rescan and a re-evaluation run, each against the schema its route documents."""
    project = f"schema{int(time.time() * 1000) % 10**8}"
    repository = f"{project}/app"
    scan_path = "/api/v1/repositories/{name}/manifests/{reference}/scan"

    def check(response: httpx.Response, path: str, method: str, status: int) -> Any:
        assert response.status_code == status, (path, method, response.text)
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        _validate(document, _response_schema(document, path, method, str(status)), body)
        return body

    imported = check(
        client.post(
            "/api/v1/vulndb/import",
            params={"name": "schema-advisories"},
            content=_zip(OSV, None, tmp_path / "osv.zip"),
        ),
        "/api/v1/vulndb/import",
        "post",
        200,
    )
    status = check(client.get("/api/v1/vulndb"), "/api/v1/vulndb", "get", 200)
    assert status["records"] > 0 and status["sources"]

    _push(registry, oci_layout(tmp_path / "image", VULNERABLE), f"{repository}:1")
    _scan(client, repository, "1")
    url = f"/api/v1/repositories/{repository}/manifests/1/scan"
    stored = check(client.get(url), scan_path, "get", 200)
    # The stored form is the ScanResult itself, not one of the foreign renderings.
    _validate(document, _component(document, "ScanResult"), stored)
    findings = stored["platforms"][0]["findings"]
    assert any(f["id"] == GLIBC_CVE for f in findings), "the image has findings to check"
    assert all(f["firstSeenAt"].endswith("Z") for f in findings)
    for form, name in (
        ("json", "ScanReportJson"),
        ("sarif", "SarifLog"),
        ("cyclonedx", "CycloneDxBom"),
        ("spdx", "SpdxDocument"),
    ):
        rendered = check(client.get(url, params={"format": form}), scan_path, "get", 200)
        _validate(document, _component(document, name), rendered)

    policy_path = "/api/v1/projects/{project}/scan-policy"
    default = check(client.get(f"/api/v1/projects/{project}/scan-policy"), policy_path, "get", 200)
    assert default["default"] is True and default["updatedAt"] is None
    policy = {"scanOnPush": True, "preventSeverity": "CRITICAL", "preventUnscanned": False}
    stored_policy = check(
        client.put(f"/api/v1/projects/{project}/scan-policy", json=policy),
        policy_path,
        "put",
        200,
    )
    assert stored_policy["updatedAt"].endswith("Z")
    check(client.get(f"/api/v1/projects/{project}/scan-policy"), policy_path, "get", 200)
    check(client.get("/api/v1/scan-policies"), "/api/v1/scan-policies", "get", 200)

    entry = check(
        client.post(
            "/api/v1/cve-allowlist",
            json={"id": "CVE-2000-0001", "project": project, "expiresAt": "2099-01-31T00:00:00Z"},
        ),
        "/api/v1/cve-allowlist",
        "post",
        201,
    )
    listed = check(
        client.get("/api/v1/cve-allowlist", params={"project": project}),
        "/api/v1/cve-allowlist",
        "get",
        200,
    )
    assert entry["id"] in {e["id"] for e in listed["entries"]}

    overdue = check(
        client.get(
            "/api/v1/vulnerabilities/overdue",
            params={"project": project, "at": "2099-01-01T00:00:00Z"},
        ),
        "/api/v1/vulnerabilities/overdue",
        "get",
        200,
    )
    assert overdue["findings"] and overdue["images"]

    rescan = check(client.post(url, params={"rescan": "true"}), scan_path, "post", 202)
    job = check(
        client.get(f"/api/v1/jobs/{_finished(client, rescan['id'])['id']}"),
        "/api/v1/jobs/{job_id}",
        "get",
        200,
    )
    _validate(document, _component(document, "ScanJobReport"), job["result"])
    assert job["result"]["scanned"] == 1
    reevaluate = client.post("/api/v1/jobs", json={"kind": "reevaluate", "args": {}})
    check(reevaluate, "/api/v1/jobs", "post", 202)
    result = _finished(client, reevaluate.json()["id"])["result"]
    _validate(document, _component(document, "ReevaluationReport"), result)
    if imported["reevaluationJob"] is not None:
        queued = _finished(client, imported["reevaluationJob"])["result"]
        _validate(document, _component(document, "ReevaluationReport"), queued)

    assert client.delete(f"/api/v1/cve-allowlist/{entry['id']}").status_code == 204
    assert client.delete(f"/api/v1/projects/{project}/scan-policy").status_code == 204
