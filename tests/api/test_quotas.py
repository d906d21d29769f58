"""Per-project storage quotas: refused pushes leave nothing behind, shared blobs count once."""

from __future__ import annotations

import subprocess

import httpx

from tests.api.helpers import patch_chunk, staged_upload_path, start_upload, upload_id
from tests.support.oci import OCI_MANIFEST, digest_of, error_code, image_manifest, put_manifest
from tests.support.server import CARGOHOLD, CargoholdServer


def _set(client: httpx.Client, project: str, limit: int) -> dict[str, object]:
    response = client.put(f"/api/v1/projects/{project}/quota", json={"limitBytes": limit})
    assert response.status_code == 200, response.text
    return response.json()


def test_pushes_past_the_quota_are_refused_and_leave_nothing(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    project = repo.replace("/", "-") + "-q"
    assert _set(client, project, 1000) == {"project": project, "limitBytes": 1000, "usageBytes": 0}
    first, second = b"a" * 600, b"b" * 600
    digest = digest_of(first)
    assert (
        client.post(
            f"/v2/{project}/app/blobs/uploads/", params={"digest": digest}, content=first
        ).status_code
        == 201
    )
    # The same bytes again, or in another repository of the project, cost nothing more.
    assert (
        client.post(
            f"/v2/{project}/app/blobs/uploads/", params={"digest": digest}, content=first
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/v2/{project}/other/blobs/uploads/",
            params={"mount": digest, "from": f"{project}/app"},
        ).status_code
        == 201
    )
    assert client.get(f"/api/v1/projects/{project}/quota").json()["usageBytes"] == 600

    refused = client.post(
        f"/v2/{project}/app/blobs/uploads/", params={"digest": digest_of(second)}, content=second
    )
    assert (refused.status_code, error_code(refused)) == (403, "DENIED")
    message = refused.json()["errors"][0]["message"]
    assert "600 bytes used" in message and "limit of 1000 bytes" in message
    assert client.head(f"/v2/{project}/app/blobs/{digest_of(second)}").status_code == 404

    # Chunked: refused at the closing PUT, and the session and its bytes are gone.
    location = patch_chunk(client, start_upload(client, f"{project}/app"), second, 0).headers[
        "Location"
    ]
    refused = client.put(location, params={"digest": digest_of(second)})
    assert (refused.status_code, error_code(refused)) == (403, "DENIED")
    assert client.get(location).status_code == 404
    assert not staged_upload_path(registry.data_dir, upload_id(location)).exists()

    # Lowering the limit below the usage refuses new manifests too.
    _set(client, project, 100)
    config = b'{"architecture":"amd64"}'
    response = put_manifest(
        client,
        f"{project}/app",
        "v1",
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [],
        },
    )
    assert (response.status_code, error_code(response)) == (403, "DENIED")
    assert client.delete(f"/api/v1/projects/{project}/quota").status_code == 204
    put_manifest(client, f"{project}/app", "v1", image_manifest(client, f"{project}/app"))
    response = client.delete(f"/api/v1/projects/{project}/quota")
    assert (response.status_code, error_code(response)) == (404, "QUOTA_UNKNOWN")
    events = client.get("/api/v1/audit", params={"n": 50}).json()["events"]
    assert [e["action"] for e in events if e["target"] == project][:3] == [
        "quota.remove",
        "quota.set",
        "quota.set",
    ]


def test_invalid_quota_requests(client: httpx.Client) -> None:
    for project, body in (
        ("a/b", {"limitBytes": 1}),
        ("team", {"limitBytes": -1}),
        ("team", {"limit": 5}),
        ("team", {"limitBytes": "1GiB"}),
    ):
        response = client.put(f"/api/v1/projects/{project}/quota", json=body)
        assert response.status_code in (400, 404)
        if response.status_code == 400:
            assert error_code(response) == "QUOTA_INVALID"


def test_cli_quota(registry: CargoholdServer, repo: str) -> None:
    project = repo.replace("/", "-") + "-cli"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CARGOHOLD, "quota", *args, "--registry", registry.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert cli("set", project, "--limit", "10GiB").stdout.strip() == (
        f"{project}: 0 B used, limit 10.0 GiB"
    )
    assert '"limitBytes": 10737418240' in cli("show", project, "--json").stdout
    bad = cli("set", project, "--limit", "lots")
    assert bad.returncode == 1 and "cannot read the size" in bad.stderr
    assert cli("remove", project).returncode == 0
    assert "limit none" in cli("show", project).stdout
