"""deploy/nginx/cargohold.conf, as shipped, in front of two real cargohold nodes.

Debian's nginx runs the file with only what a compose host would differ in changed: its listen
port and the two upstream addresses (the nodes on loopback instead of `cargohold-N:5000`). The
nodes share what the scaled stack's nodes share: PostgreSQL, the blobs (here one directory), the
token signing keys, and `trusted_proxies` naming nginx's address. The client connects from
another loopback address (127.0.0.3) than nginx's to the nodes (127.0.0.1), so the address the
nodes record shows whether the forwarded one was taken.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.accesslog import access_log, wait_for_entries
from tests.support.nginx import NginxBalancer
from tests.support.oci import OCI_LAYER, encode, manifest_document, push_blob, sha256
from tests.support.postgres import PostgresServer
from tests.support.server import CargoholdServer

CLIENT_ADDRESS = "127.0.0.3"
CHUNK = 1024 * 1024


@dataclass
class Stack:
    nginx_url: str
    nodes: tuple[CargoholdServer, CargoholdServer]
    admin_password: str


@pytest.fixture(scope="module")
def stack(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("nginx-stack")
    database_url = postgres.create_database("nginx_stack")
    shared_blobs = root / "blobs"
    shared_blobs.mkdir()
    settings = {
        "CARGOHOLD_AUTH_TOKEN_KEY_DIR": str(root / "token-keys"),
        "CARGOHOLD_TRUSTED_PROXIES": "127.0.0.1",
        "CARGOHOLD_JOB_WORKERS": "0",
    }
    password = secrets.token_urlsafe(18)
    nodes = []
    for name in ("node-1", "node-2"):
        data = root / name
        data.mkdir()
        (data / "blobs").symlink_to(shared_blobs)
        nodes.append(
            CargoholdServer(
                data, database_url=database_url, extra_env=settings, admin_password=password
            )
        )
    nginx = None
    try:
        for node in nodes:
            node.start()
        nginx = NginxBalancer(root / "nginx", (nodes[0].host, nodes[1].host)).start()
        yield Stack(nginx.url, (nodes[0], nodes[1]), password)
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes:
            node.stop()


def _client(stack: Stack, auth: httpx.Auth | None = None) -> httpx.Client:
    """A client of nginx, connecting from CLIENT_ADDRESS."""
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    return httpx.Client(base_url=stack.nginx_url, auth=auth, transport=transport, timeout=60)


def test_a_challenge_through_nginx_sends_clients_to_nginx_for_tokens(stack: Stack) -> None:
    with _client(stack) as anonymous:
        challenge = anonymous.get("/v2/").headers["www-authenticate"]
    assert challenge.startswith(f'Bearer realm="{stack.nginx_url}/auth/token"')


def test_a_chunked_push_and_pull_through_nginx_spread_over_both_nodes(stack: Stack) -> None:
    starts = [len(access_log(node)) for node in stack.nodes]
    layer = os.urandom(5 * CHUNK + 123)
    config = b'{"architecture":"amd64","os":"linux"}'
    with _client(stack, httpx.BasicAuth("admin", stack.admin_password)) as client:
        # A token from the token endpoint, as docker gets one; every request after it, to
        # either node, is checked with the keys both share.
        token = client.get(
            "/auth/token",
            params={"service": "cargohold", "scope": "repository:deploy/app:pull,push"},
        ).json()["token"]
        client.auth = None
        client.headers["Authorization"] = f"Bearer {token}"

        started = client.post("/v2/deploy/app/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        for offset in range(0, len(layer), CHUNK):
            piece = layer[offset : offset + CHUNK]
            patched = client.patch(
                location,
                content=piece,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                },
            )
            assert patched.status_code == 202, patched.text
            location = patched.headers["location"]
        done = client.put(location, params={"digest": sha256(layer)})
        assert done.status_code == 201, done.text
        push_blob(client, "deploy/app", config)
        manifest = manifest_document(config, [layer])
        assert manifest["layers"][0]["mediaType"] == OCI_LAYER
        put = client.put(
            "/v2/deploy/app/manifests/v1",
            content=encode(manifest),
            headers={"Content-Type": manifest["mediaType"]},
        )
        assert put.status_code == 201, put.text

        for _ in range(4):
            pulled = client.get(f"/v2/deploy/app/blobs/{sha256(layer)}")
            assert pulled.status_code == 200
            assert pulled.content == layer

    # nginx spread the requests over both nodes, and each took the client's address from
    # X-Forwarded-For, since the peer (nginx, 127.0.0.1) is a trusted proxy.
    # (Only this test's requests: a node writes its access log in batches, so lines of the
    # fixture's own direct requests to it may come after `starts`.)
    def ours(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in found if e["path"].startswith("/v2/deploy/app/")]

    for node, start in zip(stack.nodes, starts, strict=True):
        entries = ours(wait_for_entries(node, lambda found: bool(ours(found)), since=start))
        assert entries, f"{node.host} served nothing"
        assert {e["client"] for e in entries} == {CLIENT_ADDRESS}


def test_a_node_going_down_leaves_the_other_serving_through_nginx(stack: Stack) -> None:
    with _client(stack, httpx.BasicAuth("admin", stack.admin_password)) as client:
        body = b"survives a node"
        digest = push_blob(client, "deploy/survivor", body)
        stack.nodes[0].kill9()
        try:
            for _ in range(6):
                pulled = client.get(f"/v2/deploy/survivor/blobs/{digest}")
                assert pulled.status_code == 200, pulled.text
                assert pulled.content == body
        finally:
            stack.nodes[0].start()
