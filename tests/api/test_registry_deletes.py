"""Deletes through the registry API (/v2/) land in the audit log, like the admin API's."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.oci import push_blob, push_image, put_manifest


def _events(client: httpx.Client, target_prefix: str) -> list[dict[str, Any]]:
    events = client.get("/api/v1/audit", params={"repository": target_prefix, "n": 200}).json()[
        "events"
    ]
    return [e for e in events if e["target"].startswith(target_prefix)]


def test_deletes_through_v2_are_audited(client: httpx.Client, repo: str) -> None:
    digest, body = push_image(client, repo, "v1", layers=[b"audited"])
    assert put_manifest(client, repo, "v1-alias", body).status_code == 201
    assert put_manifest(client, repo, "v2", body).status_code == 201
    spare = push_blob(client, repo, b"an unreferenced blob")

    # A tag, by name: the manifest stays; the audit says which digest the tag pointed to.
    assert client.delete(f"/v2/{repo}/manifests/v2").status_code == 202
    # The manifest, by digest: its remaining tags go with it and are named in the audit.
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert client.delete(f"/v2/{repo}/blobs/{spare}").status_code == 202

    events = {(e["action"], e["target"]): e for e in _events(client, repo)}
    untag = events[("tag.delete", f"{repo}:v2")]
    assert untag["detail"]["digest"] == digest
    assert untag["actor"] == "admin" and "/v2/" in untag["detail"]["reason"]
    deleted = events[("manifest.delete", f"{repo}@{digest}")]
    assert deleted["detail"]["tags"] == ["v1", "v1-alias"]
    assert ("blob.delete", f"{repo}@{spare}") in events

    # Refused or unknown deletes change nothing and record nothing.
    before = len(_events(client, repo))
    assert client.delete(f"/v2/{repo}/manifests/v2").status_code == 404
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 404
    assert len(_events(client, repo)) == before
