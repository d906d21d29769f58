"""cargohold servers whose blobs live in a real S3 store (SeaweedFS), over plain HTTP: pushes
whole and chunked, streamed and ranged pulls, redirected pulls that fetch the bytes from the
store, an upload begun on one node and finished on another, and GC emptying the bucket."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cargohold.storage.s3.keys import KeyLayout
from tests.api.helpers import (
    assert_error,
    deterministic_bytes,
    digest_of,
    patch_chunk,
    start_upload,
    upload_id,
)
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer
from tests.support.production import located_store
from tests.support.seaweedfs import (
    SeaweedServer,
    keys_under,
    multipart_keys,
    object_bytes,
    s3_server,
    session_keys,
    two_s3_nodes,
)
from tests.support.server import CARGOHOLD, CargoholdServer

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"api-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedServer, prefix: str
) -> Iterator[CargoholdServer]:
    started = s3_server(tmp_path_factory.mktemp("s3-streamed"), seaweedfs, prefix)
    yield started
    started.stop()


def push_whole(http: httpx.Client, repo: str, data: bytes) -> str:
    digest = digest_of(data)
    response = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    return digest


def test_monolithic_push_lands_under_its_digest_and_pulls_back(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    data = deterministic_bytes(3 * MIB + 17, b"monolithic")
    with server.client(timeout=60) as http:
        digest = push_whole(http, "s3/app", data)
        assert object_bytes(seaweedfs.store(prefix), digest) == data
        head = http.head(f"/v2/s3/app/blobs/{digest}")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
        pulled = http.get(f"/v2/s3/app/blobs/{digest}")
        assert pulled.status_code == 200 and pulled.content == data
        ranged = http.get(f"/v2/s3/app/blobs/{digest}", headers={"Range": "bytes=1048570-1048589"})
        assert ranged.status_code == 206
        assert ranged.content == data[1048570:1048590]
        assert ranged.headers["content-range"] == f"bytes 1048570-1048589/{len(data)}"


def test_a_small_blob_push_stages_nothing(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    """POST then `PUT ?digest=` with the whole blob (docker's and crane's small blobs): the
    session is a row only, and the blob is one object written once at its digest's key."""
    store = seaweedfs.store(prefix)
    data = deterministic_bytes(2048, b"config")
    with server.client(timeout=60) as http:
        location = start_upload(http, "s3/small")
        assert session_keys(store, upload_id(location)) == []
        done = http.put(location, params={"digest": digest_of(data)}, content=data)
        assert done.status_code == 201, done.text
        assert http.get(location).status_code == 404  # the session ended with the blob
        assert http.get(f"/v2/s3/small/blobs/{digest_of(data)}").content == data
    assert object_bytes(store, digest_of(data)) == data
    assert session_keys(store, upload_id(location)) == []


@pytest.mark.parametrize("how", ["POST", "PUT"])
def test_a_big_monolithic_push_goes_straight_to_its_key(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str, how: str
) -> None:
    """A body of several parts whose digest the client gave (`POST ?digest=`, or the one
    `PUT ?digest=` of an empty session) lands at its key with no staged object and no
    multipart upload left over."""
    store = seaweedfs.store(prefix)
    data = deterministic_bytes(19 * MIB + 5, how.encode())
    digest = digest_of(data)
    repository = f"s3/big-{how.lower()}"
    with server.client(timeout=120) as http:
        if how == "POST":
            done = http.post(
                f"/v2/{repository}/blobs/uploads/", params={"digest": digest}, content=data
            )
        else:
            location = start_upload(http, repository)
            done = http.put(location, params={"digest": digest}, content=data)
        assert done.status_code == 201, done.text
        assert done.headers["docker-content-digest"] == digest
        assert http.get(f"/v2/{repository}/blobs/{digest}").content == data
    assert object_bytes(store, digest) == data
    assert keys_under(store, store.layout.uploads) == []
    assert multipart_keys(store) == []


def test_a_big_push_with_the_wrong_digest_leaves_nothing(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    store = seaweedfs.store(prefix)
    data = deterministic_bytes(17 * MIB, b"wrong")
    claimed = digest_of(b"something else")
    with server.client(timeout=120) as http:
        location = start_upload(http, "s3/wrong")
        refused = http.put(location, params={"digest": claimed}, content=data)
        assert_error(refused, 400, "DIGEST_INVALID")
        assert http.get(location).status_code == 404  # discarded, as any failed closing PUT
        refused = http.post("/v2/s3/wrong/blobs/uploads/", params={"digest": claimed}, content=data)
        assert_error(refused, 400, "DIGEST_INVALID")
        assert http.head(f"/v2/s3/wrong/blobs/{claimed}").status_code == 404
    assert object_bytes(store, claimed) is None
    assert multipart_keys(store) == []


def test_chunked_push_past_a_part(server: CargoholdServer) -> None:
    """PATCHes of 6 MiB, 5 MiB and a few bytes: one 8 MiB chunk and a tail, committed by
    copies on the store's side."""
    pieces = [deterministic_bytes(6 * MIB, b"one"), deterministic_bytes(5 * MIB, b"two"), b"end"]
    data = b"".join(pieces)
    with server.client(timeout=60) as http:
        location = start_upload(http, "s3/chunked")
        offset = 0
        for piece in pieces:
            response = patch_chunk(http, location, piece, offset)
            assert response.status_code == 202, response.text
            location = response.headers["location"]
            offset += len(piece)
        done = http.put(location, params={"digest": digest_of(data)})
        assert done.status_code == 201, done.text
        assert http.get(f"/v2/s3/chunked/blobs/{digest_of(data)}").content == data


def test_a_blob_whose_object_is_gone_is_a_404_not_a_500(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    with server.client(timeout=60) as http:
        digest = push_whole(http, "s3/lost", b"lost in the store")
        seaweedfs.client().delete_object(
            Bucket=seaweedfs.bucket, Key=KeyLayout(prefix).blob(digest)
        )
        response = http.get(f"/v2/s3/lost/blobs/{digest}")
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_gc_removes_unreferenced_blobs_from_the_bucket(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    bucket = seaweedfs.store(prefix)
    with server.client(timeout=60) as http:
        digests = [push_whole(http, "s3/garbage", b"garbage %d" % i) for i in range(5)]
        assert all(object_bytes(bucket, d) is not None for d in digests)
        response = http.post("/api/v1/gc", timeout=120)
        assert response.status_code == 200, response.text
        report = json.loads(response.text.splitlines()[-1])["report"]
        assert report["blobs"] >= 5
        assert all(object_bytes(bucket, d) is None for d in digests)
        assert http.head(f"/v2/s3/garbage/blobs/{digests[0]}").status_code == 404


def test_a_chunked_blob_stays_where_its_parts_went_until_gc_takes_it(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    """A blob pushed in PATCHes past a part's size is completed where its parts went (no
    copy to its digest's key): pulled whole and in ranges from there, and GC deletes the
    object and then its location row."""
    bucket = located_store(seaweedfs, prefix, server.settings().metadata_url)
    assert bucket.locations is not None
    data = deterministic_bytes(9 * MIB + 123, b"located blob")
    digest = digest_of(data)
    with server.client(timeout=60) as http:
        location = start_upload(http, "s3/located")
        for start in range(0, len(data), 4 * MIB):
            response = patch_chunk(http, location, data[start : start + 4 * MIB], start)
            assert response.status_code == 202, response.text
            location = response.headers["location"]
        done = http.put(location, params={"digest": digest})
        assert done.status_code == 201, done.text
        key = bucket.locations.key_of(digest)
        assert key is not None and key.startswith(bucket.layout.located)
        assert object_bytes(seaweedfs.store(prefix), digest) is None  # not at the digest key
        assert http.get(f"/v2/s3/located/blobs/{digest}").content == data
        ranged = http.get(
            f"/v2/s3/located/blobs/{digest}",
            headers={"Range": f"bytes={8 * MIB - 3}-{8 * MIB + 2}"},
        )
        assert ranged.status_code == 206 and ranged.content == data[8 * MIB - 3 : 8 * MIB + 3]
        response = http.post("/api/v1/gc", timeout=120)
        assert response.status_code == 200, response.text
        assert http.head(f"/v2/s3/located/blobs/{digest}").status_code == 404
    assert bucket.locations.key_of(digest) is None
    assert keys_under(bucket, key) == []


def test_redirect_mode_sends_clients_to_the_store(tmp_path: Path, seaweedfs: SeaweedServer) -> None:
    prefix = f"redirect-{uuid.uuid4().hex[:12]}"
    redirecting = s3_server(
        tmp_path,
        seaweedfs,
        prefix,
        CARGOHOLD_S3_REDIRECT="true",
        CARGOHOLD_S3_REDIRECT_EXPIRY_SECONDS="300",
    )
    try:
        data = deterministic_bytes(2 * MIB + 5, b"redirected")
        with redirecting.client(timeout=60) as http:
            digest = push_whole(http, "s3/redirect", data)
            answer = http.get(f"/v2/s3/redirect/blobs/{digest}")
            assert answer.status_code == 307
            location = answer.headers["location"]
            assert location.startswith(seaweedfs.endpoint) and "X-Amz-Signature=" in location
            assert http.head(f"/v2/s3/redirect/blobs/{digest}").status_code == 200  # no redirect
            followed = http.get(f"/v2/s3/redirect/blobs/{digest}", follow_redirects=True)
            assert followed.status_code == 200 and followed.content == data
            ranged = http.get(
                f"/v2/s3/redirect/blobs/{digest}",
                headers={"Range": "bytes=100-199"},
                follow_redirects=True,
            )
            assert ranged.status_code == 206 and ranged.content == data[100:200]
            # A blob pushed in chunks is sent from where its parts went.
            chunked = deterministic_bytes(8 * MIB + 7, b"redirected chunks")
            location = start_upload(http, "s3/redirect")
            response = patch_chunk(http, location, chunked, 0)
            assert response.status_code == 202, response.text
            done = http.put(response.headers["location"], params={"digest": digest_of(chunked)})
            assert done.status_code == 201, done.text
            answer = http.get(f"/v2/s3/redirect/blobs/{digest_of(chunked)}")
            assert answer.status_code == 307 and "/located/" in answer.headers["location"]
            followed = http.get(
                f"/v2/s3/redirect/blobs/{digest_of(chunked)}", follow_redirects=True
            )
            assert followed.status_code == 200 and followed.content == chunked
            unknown = http.get(f"/v2/s3/redirect/blobs/{digest_of(b'never pushed')}")
            assert unknown.status_code == 404  # existence comes from the metadata, first
    finally:
        redirecting.stop()


def test_an_upload_begun_on_one_node_is_finished_on_another(
    tmp_path: Path, seaweedfs: SeaweedServer, postgres: PostgresServer
) -> None:
    prefix = f"nodes-{uuid.uuid4().hex[:12]}"
    database_url = postgres.create_database(f"cargohold_s3_{uuid.uuid4().hex[:8]}")
    with two_s3_nodes(tmp_path, seaweedfs, prefix, database_url) as (one, two):
        first, second = deterministic_bytes(9 * MIB, b"node one"), b"finished on node two"
        data = first + second
        with one.client(timeout=60) as http_one, two.client(timeout=60) as http_two:
            location = start_upload(http_one, "s3/nodes")
            response = patch_chunk(http_one, location, first, 0)
            assert response.status_code == 202, response.text
            path = response.headers["location"]
            status = http_two.get(path)
            assert status.status_code == 204 and status.headers["range"] == f"0-{len(first) - 1}"
            response = patch_chunk(http_two, path, second, len(first))
            assert response.status_code == 202, response.text
            done = http_two.put(response.headers["location"], params={"digest": digest_of(data)})
            assert done.status_code == 201, done.text
            assert http_one.get(f"/v2/s3/nodes/blobs/{digest_of(data)}").content == data
        # Chunked: completed where its parts went, found through its location row.
        assert object_bytes(located_store(seaweedfs, prefix, database_url), digest_of(data)) == data


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CARGOHOLD_S3_SECRET_ACCESS_KEY": "not-the-secret"}, "access denied"),
        ({"CARGOHOLD_S3_BUCKET": "no-such-bucket-here"}, "no such bucket"),
        ({"CARGOHOLD_S3_ENDPOINT_URL": "http://127.0.0.1:9"}, "Could not connect"),
        ({"CARGOHOLD_S3_BUCKET": ""}, "storage_driver s3 needs s3_bucket"),
    ],
)
def test_serve_refuses_to_start_on_a_store_it_cannot_use(
    tmp_path: Path, seaweedfs: SeaweedServer, env: dict[str, str], message: str
) -> None:
    environment = {**os.environ, **seaweedfs.settings_env("refused"), **env}
    environment.pop("CARGOHOLD_ADMIN_PASSWORD", None)
    finished = subprocess.run(
        [CARGOHOLD, "serve", "--addr", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert seaweedfs.secret_key not in finished.stderr and "not-the-secret" not in finished.stderr
