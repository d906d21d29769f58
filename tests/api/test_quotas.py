"""Per-project storage quotas: refused pushes leave nothing behind, shared blobs count once."""

from __future__ import annotations

import json
import os
import subprocess

import httpx

from tests.api.helpers import patch_chunk, staged_upload_path, start_upload, upload_id
from tests.support.oci import (
    OCI_MANIFEST,
    digest_of,
    error_code,
    image_manifest,
    manifest_document,
    push_blob,
    push_image,
    put_manifest,
)
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


def _gc(http: httpx.Client) -> None:
    response = http.post("/api/v1/gc", timeout=120)
    assert response.status_code == 200, response.text
    assert json.loads(response.text.splitlines()[-1])["event"] == "done", response.text


def _listed(server: CargoholdServer, http: httpx.Client, repository: str) -> dict[str, bool]:
    """Whether each listing (OCI catalog, admin API, `cargohold repos`) shows the repository."""
    cli = subprocess.run(
        [CARGOHOLD, "repos", "--json", "--registry", server.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    admin = http.get("/api/v1/repositories", params={"n": 1000}).json()
    return {
        "catalog": repository in http.get("/v2/_catalog").json()["repositories"],
        "admin": repository in [r["name"] for r in admin["repositories"]],
        "cli": repository in [r["name"] for r in json.loads(cli.stdout)],
    }


def _shared_base(http: httpx.Client, name: str, base: bytes) -> None:
    """Another project's image that keeps `base` referenced (so GC never frees it)."""
    push_image(http, f"{name}-other/base", "1.0", layers=[base])


def test_a_push_refused_by_deny_latest_stops_counting(
    registry_without_grace: CargoholdServer, repo: str
) -> None:
    project = repo.replace("/", "-") + "-denied"
    base = os.urandom(700)
    with httpx.Client(
        base_url=registry_without_grace.url, auth=registry_without_grace.admin_auth, timeout=60
    ) as http:
        _shared_base(http, project, base)
        _set(http, project, 10_000)
        rule = http.post(
            "/api/v1/tag-rules",
            json={"kind": "deny-latest", "scope": "project", "target": project},
        )
        assert rule.status_code == 201, rule.text
        try:
            document = image_manifest(http, f"{project}/app", layers=[base, b"own layer"])
            refused = put_manifest(http, f"{project}/app", "latest", document)
            assert (refused.status_code, error_code(refused)) == (403, "DENIED")
            _gc(http)
            usage = http.get(f"/api/v1/projects/{project}/quota").json()["usageBytes"]
            assert usage == 0
            assert _listed(registry_without_grace, http, f"{project}/app") == {
                "catalog": False,
                "admin": False,
                "cli": False,
            }
            # The shared layer's link is stale but still there: a manifest may reference it
            # again, and its push is checked with the bytes it makes count again.
            config = b'{"architecture":"arm64"}'
            push_blob(http, f"{project}/app", config)
            again = manifest_document(config, [base])
            _set(http, project, len(base))
            refused = put_manifest(http, f"{project}/app", "1.0", again)
            assert (refused.status_code, error_code(refused)) == (403, "DENIED")
            assert "0 bytes used" in refused.json()["errors"][0]["message"]
            _set(http, project, len(base) + len(config))
            assert put_manifest(http, f"{project}/app", "1.0", again).status_code == 201
            usage = http.get(f"/api/v1/projects/{project}/quota").json()["usageBytes"]
            assert usage == len(base) + len(config)
            assert _listed(registry_without_grace, http, f"{project}/app")["catalog"]
        finally:
            http.delete(f"/api/v1/tag-rules/{rule.json()['id']}")


def test_deleting_every_image_empties_usage_and_listings(
    registry_without_grace: CargoholdServer, repo: str
) -> None:
    project = repo.replace("/", "-") + "-emptied"
    base = os.urandom(900)
    with httpx.Client(
        base_url=registry_without_grace.url, auth=registry_without_grace.admin_auth, timeout=60
    ) as http:
        _shared_base(http, project, base)
        _set(http, project, 10_000)
        first, _ = push_image(http, f"{project}/app", "v1", layers=[base, b"one"])
        second, _ = push_image(http, f"{project}/app", "v2", layers=[base, b"two"])
        push_image(http, f"{project}/kept", "v1", layers=[b"kept"])
        assert http.get(f"/api/v1/projects/{project}/quota").json()["usageBytes"] > len(base)
        assert _listed(registry_without_grace, http, f"{project}/app")["catalog"]
        for digest in (first, second):
            assert http.delete(f"/v2/{project}/app/manifests/{digest}").status_code == 202
        _gc(http)
        kept = http.get(f"/v2/{project}/kept/manifests/v1").json()
        kept_bytes = kept["config"]["size"] + sum(layer["size"] for layer in kept["layers"])
        assert http.get(f"/api/v1/projects/{project}/quota").json()["usageBytes"] == kept_bytes
        assert _listed(registry_without_grace, http, f"{project}/app") == {
            "catalog": False,
            "admin": False,
            "cli": False,
        }
        assert _listed(registry_without_grace, http, f"{project}/kept")["catalog"]
        report = http.get("/api/v1/storage").json()
        assert f"{project}/app" not in [r["repository"] for r in report["repositories"]]
        # The shared layer is still stored for the other project.
        other = http.get(f"/v2/{project}-other/base/manifests/1.0").json()
        assert (
            http.get(f"/v2/{project}-other/base/blobs/{other['layers'][0]['digest']}").content
            == base
        )


def test_blobs_of_a_push_in_flight_count_until_the_grace_period_ends(
    client: httpx.Client, repo: str
) -> None:
    """On the default grace period, blobs waiting for their manifest count, and are listed."""
    project = repo.replace("/", "-") + "-inflight"
    _set(client, project, 10_000)
    layer = os.urandom(300)
    push_blob(client, f"{project}/app", layer)
    assert client.get(f"/api/v1/projects/{project}/quota").json()["usageBytes"] == len(layer)
    assert (
        f"{project}/app" in client.get("/v2/_catalog", params={"n": 10_000}).json()["repositories"]
    )
