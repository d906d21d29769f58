"""A chunked upload begun on one node and finished on the other, directly against the nodes'
ports, with one registry token from node A's token endpoint that both nodes accept (they share
the signing keys). The pieces cross the S3 driver's 8 MiB chunk boundary on the other node, so
each node continues what the other staged in the bucket. Through nginx, by contrast, every
request of one session goes to one node."""

from __future__ import annotations

import os

import httpx

from tests.api.helpers import patch_chunk, start_upload, upload_id
from tests.multinode.stack import PROJECT, ProductionStack
from tests.support.accesslog import wait_for_entries
from tests.support.oci import sha256
from tests.support.production import located_store
from tests.support.seaweedfs import keys_under, object_bytes, session_keys
from tests.support.server import CargoholdServer

MIB = 1024 * 1024


def _token(stack: ProductionStack, repository: str) -> str:
    response = httpx.get(
        f"{stack.nodes[0].url}/auth/token",
        params={"service": "cargohold", "scope": f"repository:{repository}:pull,push"},
        auth=stack.developer.auth,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _patch(client: httpx.Client, location: str, piece: bytes, start: int) -> str:
    response = patch_chunk(client, location, piece, start)
    assert response.status_code == 202, response.text
    assert response.headers["Range"] == f"0-{start + len(piece) - 1}"
    return response.headers["Location"]


def test_a_chunked_upload_moves_between_the_nodes_and_finishes_on_the_other(
    stack: ProductionStack,
) -> None:
    repository = f"{PROJECT}/chunked"
    data = os.urandom(11 * MIB + 321)
    pieces = [data[: 5 * MIB], data[5 * MIB : 10 * MIB], data[10 * MIB : 11 * MIB]]
    headers = {"Authorization": f"Bearer {_token(stack, repository)}"}
    node_a, node_b = (
        httpx.Client(base_url=node.url, headers=headers, timeout=60) for node in stack.nodes
    )
    with node_a, node_b:
        location = start_upload(node_a, repository)
        upload = upload_id(location)

        location = _patch(node_a, location, pieces[0], 0)
        # Node B takes the session node A began: 5 MiB staged by A, its 5 MiB crossing
        # the first 8 MiB chunk.
        location = _patch(node_b, location, pieces[1], 5 * MIB)
        status = node_a.get(location)
        assert status.status_code == 204 and status.headers["Range"] == f"0-{10 * MIB - 1}"
        location = _patch(node_a, location, pieces[2], 10 * MIB)
        # Node B closes it with the last bytes in the PUT's body.
        done = node_b.put(location, params={"digest": sha256(data)}, content=data[11 * MIB :])
        assert done.status_code == 201, done.text
        assert done.headers["Docker-Content-Digest"] == sha256(data)

        for client in (node_a, node_b):
            pulled = client.get(f"/v2/{repository}/blobs/{sha256(data)}")
            assert pulled.status_code == 200 and pulled.content == data
            ranged = client.get(
                f"/v2/{repository}/blobs/{sha256(data)}",
                headers={"Range": f"bytes={8 * MIB - 10}-{8 * MIB + 9}"},
            )
            assert ranged.status_code == 206 and ranged.content == data[8 * MIB - 10 : 8 * MIB + 10]
            # The finished session is gone on both nodes.
            assert client.get(f"/v2/{repository}/blobs/uploads/{upload}").status_code == 404

    # Nothing of the session is left in the bucket: the blob is one object, where its parts
    # went, which its location row names.
    bucket = located_store(stack.seaweedfs, stack.prefix, stack.database_url)
    assert session_keys(bucket, upload) == []
    assert keys_under(bucket, bucket.layout.located) == [
        bucket.locations.key_of(sha256(data)) if bucket.locations else None
    ]
    assert object_bytes(bucket, sha256(data)) == data


def _served(node: CargoholdServer, fragment: str, count: int) -> list[str]:
    """The methods of the requests whose path holds `fragment` that `node` logged, once it
    logged `count` such in all (or after the wait)."""
    entries = wait_for_entries(
        node, lambda entries: sum(fragment in e["path"] for e in entries) >= count, timeout=3
    )
    return [entry["method"] for entry in entries if fragment in entry["path"]]


def test_through_nginx_an_upload_session_stays_on_one_node(stack: ProductionStack) -> None:
    """The shipped nginx site sends every request of one upload session to one node (which
    has its running hash and keeps its staged bytes held between requests), and spreads the
    other requests over both nodes."""
    repository = f"{PROJECT}/affinity"
    data = os.urandom(4 * 5 * MIB)
    headers = {"Authorization": f"Bearer {_token(stack, repository)}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=60) as client:
        for _ in range(3):  # a session each
            location = start_upload(client, repository)
            upload = upload_id(location)
            for start in range(0, len(data), 5 * MIB):
                location = _patch(client, location, data[start : start + 5 * MIB], start)
            done = client.put(location, params={"digest": sha256(data)})
            assert done.status_code == 201, done.text
            served = [_served(node, upload, 5) for node in stack.nodes]
            assert sorted(served, key=len) == [[], ["PATCH"] * 4 + ["PUT"]], served
        for _ in range(24):
            assert client.get("/v2/").status_code == 200
    assert all(_served(node, "/v2/", 1) for node in stack.nodes)
