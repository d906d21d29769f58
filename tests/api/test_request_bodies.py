"""Request bodies are bounded while they are read: chunked bodies past a route's limit and
declared lengths past it are refused with 413 `SIZE_INVALID`, without the server holding them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.support.oci import encode, image_manifest, put_manifest, sha256
from tests.support.rawhttp import (
    connect,
    head,
    read_response,
    resident_bytes,
    send_until_answered,
    status_of,
    worker_pids,
)
from tests.support.server import CargoholdServer

MIB = 1024 * 1024
IMPORT_LIMIT = 8 * MIB
# Far more than any limit below, and than the growth the test allows.
OVERSIZED = 128 * MIB
ALLOWED_GROWTH = 48 * MIB

ROUTES = {
    "admin JSON": ("POST", "/api/v1/tag-rules", "application/json"),
    "lifecycle preview": (
        "POST",
        "/api/v1/repositories/bodies/big/lifecycle/preview",
        "application/json",
    ),
    "manifest PUT": (
        "PUT",
        "/v2/bodies/big/manifests/latest",
        "application/vnd.oci.image.manifest.v1+json",
    ),
    "vulndb import": ("POST", "/api/v1/vulndb/import", "application/zip"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    # One worker: the memory measured is the memory of the process that read the body.
    data_dir = tmp_path_factory.mktemp("bodies") / "data"
    env = {"CARGOHOLD_MAX_VULNDB_IMPORT_BYTES": str(IMPORT_LIMIT), "CARGOHOLD_JOB_WORKERS": "0"}
    registry = CargoholdServer(data_dir, workers=1, extra_env=env).start()
    # Every route once with a small body, so lazy imports are not counted as growth below.
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=30) as client:
        for method, path, content_type in ROUTES.values():
            client.request(method, path, content=b"{}", headers={"Content-Type": content_type})
    yield registry
    registry.stop()


def _workers(server: CargoholdServer) -> list[int]:
    assert server.process is not None
    pids = worker_pids(server.process.pid)
    assert pids, "no worker processes found"
    return pids


def _assert_size_invalid(response: bytes, status: int) -> None:
    assert status_of(response) == status, response[:500]
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["errors"][0]["code"] == "SIZE_INVALID", body
    assert b"connection: close" in response.lower()


@pytest.mark.parametrize("route", list(ROUTES))
def test_an_oversized_chunked_body_is_refused_while_it_arrives(
    server: CargoholdServer, route: str
) -> None:
    method, path, content_type = ROUTES[route]
    pids = _workers(server)
    before = resident_bytes(pids)
    headers = {"Authorization": server.admin_authorization, "Content-Type": content_type}
    request = head(method, path, {**headers, "Transfer-Encoding": "chunked"})
    sent, response = send_until_answered(server.port, request, OVERSIZED, chunked=True)
    grown = resident_bytes(pids) - before
    _assert_size_invalid(response, 413)
    # Answered long before the end of the body, and the worker did not keep what it read.
    assert sent < OVERSIZED
    assert grown < ALLOWED_GROWTH, f"{route}: the worker grew by {grown / MIB:.0f} MiB"
    # The server still answers everyone else.
    assert httpx.get(f"{server.url}/v2/", auth=server.admin_auth, timeout=10).status_code == 200


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    server: CargoholdServer, route: str
) -> None:
    method, path, content_type = ROUTES[route]
    sock = connect(server.port)
    try:
        # Headers only: an answer can come only from the declared length.
        headers = {"Authorization": server.admin_authorization, "Content-Type": content_type}
        sock.sendall(head(method, path, {**headers, "Content-Length": "1073741824"}))
        response = read_response(sock, timeout=10)
    finally:
        sock.close()
    _assert_size_invalid(response, 413)


def test_a_4_mib_manifest_is_accepted_and_one_byte_more_is_not(server: CargoholdServer) -> None:
    repo = "bodies/four-mib"
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as client:
        document = image_manifest(client, repo)
        document["annotations"] = {"padding": ""}
        padding = 4 * MIB - len(encode(document))
        document["annotations"]["padding"] = "x" * padding
        body = encode(document)
        assert len(body) == 4 * MIB
        response = put_manifest(client, repo, "four", body, document["mediaType"])
        assert response.status_code == 201, response.text
        assert response.headers["Docker-Content-Digest"] == sha256(body)
        assert client.get(f"/v2/{repo}/manifests/four").content == body

        document["annotations"]["padding"] += "x"
        response = put_manifest(client, repo, "five", document)
        assert_error(response, 413, "SIZE_INVALID")


def test_an_admin_json_body_at_the_limit_is_parsed(server: CargoholdServer) -> None:
    """The limit refuses only what is over it: a 1 MiB body still reaches the parser."""
    padding = " " * (MIB - len(b'{"pattern": "x"}'))
    body = ('{"pattern": "x"}' + padding).encode()
    assert len(body) == MIB
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        response = client.post("/api/v1/tag-rules", content=body)
        assert response.status_code != 413, response.text
        response = client.post("/api/v1/tag-rules", content=body + b" ")
        assert_error(response, 413, "SIZE_INVALID")
