"""A scan policy set through the admin API governs the next pull the same server answers, with
no wait for a cache: the process that made the change reloads its gate at once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.oci import error_code
from tests.support.server import CargoholdServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CargoholdServer]:
    # One worker (one process, one cache) and no job worker: the image stays unscanned.
    started = CargoholdServer(
        tmp_path / "data", workers=1, extra_env={"CARGOHOLD_JOB_WORKERS": "0"}
    ).start()
    try:
        yield started
    finally:
        started.stop()


def _push_image(client: httpx.Client, repository: str, tag: str) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    posted = client.post(
        f"/v2/{repository}/blobs/uploads/", params={"digest": digest}, content=config
    )
    assert posted.status_code == 201, posted.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest,
            "size": len(config),
        },
        "layers": [],
    }
    put = client.put(
        f"/v2/{repository}/manifests/{tag}",
        content=json.dumps(manifest),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text


def test_a_policy_set_through_the_api_governs_the_next_pull(server: CargoholdServer) -> None:
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        _push_image(client, "gated/app", "1")
        _push_image(client, "open/app", "1")
        pull = "/v2/gated/app/manifests/1"
        headers = {"Accept": OCI_MANIFEST}
        assert client.get(pull, headers=headers).status_code == 200

        policy = "/api/v1/projects/gated/scan-policy"
        assert client.put(policy, json={"preventUnscanned": True}).status_code == 200
        refused = client.get(pull, headers=headers)
        assert (refused.status_code, error_code(refused)) == (403, "DENIED")
        assert "not been scanned" in refused.json()["errors"][0]["message"]
        # A HEAD is never refused; another project is not gated.
        assert client.head(pull, headers=headers).status_code == 200
        assert client.get("/v2/open/app/manifests/1", headers=headers).status_code == 200

        assert client.delete(policy).status_code == 204
        assert client.get(pull, headers=headers).status_code == 200
