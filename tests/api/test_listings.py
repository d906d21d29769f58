"""Tags list, catalog and referrers: pagination, byte order, filters."""

from __future__ import annotations

import httpx

from tests.support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    encode,
    error_code,
    image_manifest,
    push_image,
    put_manifest,
    sha256,
)
from tests.support.server import CargoholdServer

# Byte order, which differs from most locales' collation ("_" sorts after "Z").
TAGS = ["A", "B", "Z9", "_x", "a", "a-1", "a.1", "a_1", "b", "v1.10", "v1.9"]


def _tag_all(client: httpx.Client, repo: str) -> None:
    _, body = push_image(client, repo, TAGS[0])
    for tag in TAGS[1:]:
        assert put_manifest(client, repo, tag, body, OCI_MANIFEST).status_code == 201


def test_tags_list_in_byte_order_without_n_returns_everything(
    client: httpx.Client, repo: str
) -> None:
    _tag_all(client, repo)
    response = client.get(f"/v2/{repo}/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": repo, "tags": sorted(TAGS)}
    assert sorted(TAGS) == TAGS
    assert "Link" not in response.headers


def test_tags_pagination_walks_every_tag_once(client: httpx.Client, repo: str) -> None:
    _tag_all(client, repo)
    seen: list[str] = []
    url = f"/v2/{repo}/tags/list?n=3"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = response.json()["tags"]
        assert len(page) <= 3
        seen += page
        pages += 1
        link = response.headers.get("Link")
        if link is None:
            break
        assert link == f'</v2/{repo}/tags/list?n=3&last={page[-1]}>; rel="next"'
        url = link[1 : link.index(">")]
    assert seen == TAGS
    assert pages == 4


def test_tags_last_is_exclusive_and_need_not_exist(client: httpx.Client, repo: str) -> None:
    _tag_all(client, repo)
    assert client.get(f"/v2/{repo}/tags/list", params={"last": "a"}).json()["tags"] == TAGS[5:]
    # "a-0" is not a tag; listing continues after where it would sort.
    assert client.get(f"/v2/{repo}/tags/list", params={"last": "a-0"}).json()["tags"] == TAGS[5:]
    response = client.get(f"/v2/{repo}/tags/list", params={"n": 2, "last": "b"})
    assert response.json()["tags"] == ["v1.10", "v1.9"]
    assert "Link" not in response.headers
    assert client.get(f"/v2/{repo}/tags/list", params={"last": "zzz"}).json()["tags"] == []


def test_tags_n_zero_and_bad_n(client: httpx.Client, repo: str) -> None:
    _tag_all(client, repo)
    response = client.get(f"/v2/{repo}/tags/list", params={"n": 0})
    assert response.status_code == 200
    assert response.json()["tags"] == []
    assert "Link" not in response.headers
    for bad in ("-1", "abc", "1.5"):
        response = client.get(f"/v2/{repo}/tags/list", params={"n": bad})
        assert response.status_code == 400
        assert error_code(response) == "PAGINATION_NUMBER_INVALID"


def test_tags_of_unknown_repository(client: httpx.Client, repo: str) -> None:
    response = client.get(f"/v2/{repo}/tags/list")
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")
    response = client.get(f"/v2/{repo}/tags/list", params={"n": 0})
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")


def test_large_n_is_capped(client: httpx.Client, repo: str) -> None:
    _tag_all(client, repo)
    response = client.get(f"/v2/{repo}/tags/list", params={"n": 10**9})
    assert response.status_code == 200
    assert response.json()["tags"] == TAGS


def test_catalog_pagination_covers_every_repository_in_byte_order(
    client: httpx.Client, repo: str
) -> None:
    names = [f"{repo}/{suffix}" for suffix in ("b", "a", "a-b", "a.b", "a_b", "c/d")]
    for name in names:
        push_image(client, name, "v1")
    walked: list[str] = []
    url = "/v2/_catalog?n=4"
    for _ in range(10_000):
        response = client.get(url)
        assert response.status_code == 200
        page = response.json()["repositories"]
        walked += page
        link = response.headers.get("Link")
        if link is None:
            break
        assert link.startswith("</v2/_catalog?n=4&last=") and link.endswith('>; rel="next"')
        url = link[1 : link.index(">")]
    assert walked == sorted(walked, key=lambda s: s.encode())
    assert len(walked) == len(set(walked))
    ours = [name for name in walked if name.startswith(repo + "/")]
    assert ours == sorted(names, key=lambda s: s.encode())


def test_catalog_defaults_and_edges(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    response = client.get("/v2/_catalog")
    assert response.status_code == 200
    assert repo in response.json()["repositories"]
    response = client.get("/v2/_catalog", params={"n": 0})
    assert response.json() == {"repositories": []}
    assert "Link" not in response.headers
    after = client.get("/v2/_catalog", params={"last": repo}).json()["repositories"]
    assert repo not in after
    assert all(name.encode() > repo.encode() for name in after)
    response = client.get("/v2/_catalog", params={"n": "x"})
    assert (response.status_code, error_code(response)) == (400, "PAGINATION_NUMBER_INVALID")


def _push_referrer(
    client: httpx.Client, repo: str, subject: str, subject_size: int, artifact_type: str, note: str
) -> str:
    document = image_manifest(
        client,
        repo,
        layers=[note.encode()],
        artifactType=artifact_type,
        subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
        annotations={"note": note},
    )
    body = encode(document)
    response = put_manifest(client, repo, sha256(body), body, OCI_MANIFEST)
    assert response.status_code == 201
    assert response.headers["OCI-Subject"] == subject
    return sha256(body)


def test_referrers_list_and_artifact_type_filter(client: httpx.Client, repo: str) -> None:
    subject, subject_body = push_image(client, repo, "v1")
    sig = _push_referrer(client, repo, subject, len(subject_body), "application/x.sig", "sig")
    sbom = _push_referrer(client, repo, subject, len(subject_body), "application/x.sbom", "sbom")

    response = client.get(f"/v2/{repo}/referrers/{subject}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in response.headers
    index = response.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert set(by_digest) == {sig, sbom}
    assert by_digest[sig]["artifactType"] == "application/x.sig"
    assert by_digest[sig]["annotations"] == {"note": "sig"}
    assert by_digest[sig]["mediaType"] == OCI_MANIFEST
    got = client.get(f"/v2/{repo}/manifests/{sig}")
    assert by_digest[sig]["size"] == len(got.content)

    response = client.get(
        f"/v2/{repo}/referrers/{subject}", params={"artifactType": "application/x.sbom"}
    )
    assert response.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in response.json()["manifests"]] == [sbom]


def test_referrers_of_unknown_subject_or_repository_is_an_empty_index(
    client: httpx.Client, repo: str
) -> None:
    nothing = "sha256:" + "b" * 64
    for name in (repo, repo + "-never-pushed"):
        response = client.get(f"/v2/{name}/referrers/{nothing}")
        assert response.status_code == 200
        assert response.json()["manifests"] == []
    response = client.get(f"/v2/{repo}/referrers/sha256:short")
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")


def test_referrer_of_an_absent_subject_shows_up_once_the_subject_exists(
    client: httpx.Client, repo: str
) -> None:
    document = image_manifest(client, repo, layers=[b"payload"])
    subject_body = encode(document)
    subject = sha256(subject_body)
    referrer = _push_referrer(client, repo, subject, len(subject_body), "application/x.sig", "n")
    assert put_manifest(client, repo, "v1", subject_body, OCI_MANIFEST).status_code == 201
    found = client.get(f"/v2/{repo}/referrers/{subject}").json()["manifests"]
    assert [d["digest"] for d in found] == [referrer]


def test_unknown_endpoint_and_method(client: httpx.Client) -> None:
    response = client.get("/v2/x/nothing-here")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"]
    response = client.post("/v2/_catalog")
    assert (response.status_code, error_code(response)) == (405, "UNSUPPORTED")


def test_version_check_header(client: httpx.Client) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_index_with_zero_manifests_is_accepted(client: httpx.Client, repo: str) -> None:
    empty_index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    assert put_manifest(client, repo, "empty", empty_index).status_code == 201


def test_tags_list_is_never_stale_on_any_worker(registry: CargoholdServer, repo: str) -> None:
    """Every worker caches tag pages; a tag change must show on the very next list."""
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as http:
        _, body = push_image(http, repo, "base")
    expected = ["base"]
    for round_number in range(6):
        tag = f"t{round_number}"
        with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as http:
            assert put_manifest(http, repo, tag, body, OCI_MANIFEST).status_code == 201
        expected = sorted([*expected, tag])
        for _ in range(4):  # fresh connections land on different workers
            with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as http:
                assert http.get(f"/v2/{repo}/tags/list").json()["tags"] == expected
                assert (
                    http.get(f"/v2/{repo}/tags/list", params={"n": 2}).json()["tags"]
                    == (expected[:2])
                )
        with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as http:
            assert http.delete(f"/v2/{repo}/manifests/{expected[0]}").status_code == 202
        expected = expected[1:]
        for _ in range(4):
            with httpx.Client(base_url=registry.url, auth=registry.admin_auth) as http:
                assert http.get(f"/v2/{repo}/tags/list").json()["tags"] == expected
