"""Small upload sessions on S3 keep their bytes in the metadata store: a blob sent as docker,
podman and skopeo send it (POST, PATCH with the body, PUT without one) stages nothing in the
bucket and lands once at its digest's key; a session that grows past `s3_inline_upload_bytes`
moves to the bucket; and any node continues a session another began, whatever its own
setting."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import (
    assert_error,
    deterministic_bytes,
    digest_of,
    patch_chunk,
    start_upload,
    upload_id,
)
from tests.support.postgres import PostgresServer
from tests.support.seaweedfs import (
    SeaweedServer,
    keys_under,
    object_bytes,
    s3_server,
    session_keys,
    two_s3_nodes,
)
from tests.support.server import CargoholdServer

KIB = 1024
LIMIT = 64 * KIB


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"inline-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedServer, prefix: str
) -> Iterator[CargoholdServer]:
    started = s3_server(
        tmp_path_factory.mktemp("s3-inline"),
        seaweedfs,
        prefix,
        CARGOHOLD_S3_INLINE_UPLOAD_BYTES=str(LIMIT),
    )
    yield started
    started.stop()


def streamed(data: bytes) -> Iterator[bytes]:
    """A body without Content-Length (chunked transfer encoding), as docker sends a layer."""
    for start in range(0, len(data), 4096):
        yield data[start : start + 4096]


def test_a_blob_sent_as_patch_then_put_stages_nothing_in_the_bucket(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    store = seaweedfs.store(prefix)
    data = deterministic_bytes(5 * KIB + 3, b"docker way")
    with server.client(timeout=60) as http:
        location = start_upload(http, "inline/app")
        patched = http.patch(location, content=streamed(data))
        assert patched.status_code == 202, patched.text
        assert patched.headers["range"] == f"0-{len(data) - 1}"
        assert session_keys(store, upload_id(location)) == []
        status = http.get(patched.headers["location"])
        assert status.status_code == 204 and status.headers["range"] == f"0-{len(data) - 1}"
        done = http.put(patched.headers["location"], params={"digest": digest_of(data)})
        assert done.status_code == 201, done.text
        assert http.get(location).status_code == 404  # the session ended with the blob
        assert http.get(f"/v2/inline/app/blobs/{digest_of(data)}").content == data
    assert object_bytes(store, digest_of(data)) == data
    assert keys_under(store, store.layout.uploads) == []


def test_several_small_patches_add_up_in_the_row(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    pieces = [b"first ", b"", b"second ", deterministic_bytes(3 * KIB, b"third")]
    data = b"".join(pieces)
    with server.client(timeout=60) as http:
        location = start_upload(http, "inline/pieces")
        session = upload_id(location)
        offset = 0
        for piece in pieces:
            response = patch_chunk(http, location, piece, offset if piece else None)
            assert response.status_code == 202, response.text
            location = response.headers["location"]
            offset += len(piece)
            assert response.headers["range"] == f"0-{max(offset - 1, 0)}"
        assert session_keys(seaweedfs.store(prefix), session) == []
        # A PATCH that does not start at the session's end is refused and changes nothing.
        refused = patch_chunk(http, location, b"again", 0)
        assert_error(refused, 416, "RANGE_INVALID")
        assert refused.headers["range"] == f"0-{len(data) - 1}"
        # The closing PUT may carry the last bytes too.
        done = http.put(location, params={"digest": digest_of(data + b"last")}, content=b"last")
        assert done.status_code == 201, done.text
        assert http.get(f"/v2/inline/pieces/blobs/{digest_of(data + b'last')}").content == (
            data + b"last"
        )


def test_a_session_that_grows_past_the_limit_moves_to_the_bucket(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    store = seaweedfs.store(prefix)
    first = deterministic_bytes(LIMIT - 10, b"under")
    second = deterministic_bytes(20, b"over")
    third = deterministic_bytes(3 * LIMIT, b"well past")
    data = first + second + third
    with server.client(timeout=60) as http:
        location = start_upload(http, "inline/grows")
        session = upload_id(location)
        response = patch_chunk(http, location, first, 0)
        assert response.status_code == 202, response.text
        assert session_keys(store, session) == []
        response = patch_chunk(http, response.headers["location"], second, len(first))
        assert response.status_code == 202, response.text
        assert session_keys(store, session) != []  # the bytes moved to the bucket
        response = patch_chunk(http, response.headers["location"], third, len(first + second))
        assert response.status_code == 202, response.text
        assert response.headers["range"] == f"0-{len(data) - 1}"
        done = http.put(response.headers["location"], params={"digest": digest_of(data)})
        assert done.status_code == 201, done.text
        assert http.get(f"/v2/inline/grows/blobs/{digest_of(data)}").content == data
    assert object_bytes(store, digest_of(data)) == data
    assert session_keys(store, session) == []


def test_a_patch_that_adds_little_to_much_moves_the_session_to_the_bucket(
    server: CargoholdServer, seaweedfs: SeaweedServer, prefix: str
) -> None:
    """Each append rewrites the whole row: a PATCH adding under a quarter of what the row
    would hold (a stream of tiny PATCHes) moves the session to the bucket instead."""
    store = seaweedfs.store(prefix)
    first = deterministic_bytes(8 * KIB, b"kept in the row")
    tiny = [b"a", b"b", b"c"]
    data = first + b"".join(tiny)
    with server.client(timeout=60) as http:
        location = start_upload(http, "inline/tiny")
        session = upload_id(location)
        response = patch_chunk(http, location, first, 0)
        assert response.status_code == 202, response.text
        assert session_keys(store, session) == []
        offset = len(first)
        for piece in tiny:
            response = patch_chunk(http, response.headers["location"], piece, offset)
            assert response.status_code == 202, response.text
            offset += len(piece)
            assert session_keys(store, session) != []
        done = http.put(response.headers["location"], params={"digest": digest_of(data)})
        assert done.status_code == 201, done.text
        assert http.get(f"/v2/inline/tiny/blobs/{digest_of(data)}").content == data
    assert session_keys(store, session) == []


def test_a_wrong_digest_discards_an_inline_session(server: CargoholdServer) -> None:
    data = b"what was sent"
    with server.client(timeout=60) as http:
        location = start_upload(http, "inline/wrong")
        response = patch_chunk(http, location, data, 0)
        assert response.status_code == 202, response.text
        refused = http.put(response.headers["location"], params={"digest": digest_of(b"other")})
        assert_error(refused, 400, "DIGEST_INVALID")
        assert http.get(location).status_code == 404
        assert http.head(f"/v2/inline/wrong/blobs/{digest_of(b'other')}").status_code == 404
        assert http.head(f"/v2/inline/wrong/blobs/{digest_of(data)}").status_code == 404


def test_nodes_continue_each_others_inline_sessions_whatever_their_setting(
    tmp_path: Path, seaweedfs: SeaweedServer, postgres: PostgresServer
) -> None:
    """Node one keeps small sessions in the row, node two keeps every byte in the bucket
    (`s3_inline_upload_bytes = 0`): a session begun on one goes on and ends on the other."""
    prefix = f"inline-nodes-{uuid.uuid4().hex[:12]}"
    store = seaweedfs.store(prefix)
    database_url = postgres.create_database(f"cargohold_inline_{uuid.uuid4().hex[:8]}")
    with two_s3_nodes(
        tmp_path, seaweedfs, prefix, database_url, CARGOHOLD_S3_INLINE_UPLOAD_BYTES="0"
    ) as (one, two):
        with one.client(timeout=60) as http_one, two.client(timeout=60) as http_two:
            # Begun inline on one, closed by an empty PUT on two.
            small = deterministic_bytes(2 * KIB, b"config")
            location = start_upload(http_one, "nodes/app")
            response = http_one.patch(location, content=streamed(small))
            assert response.status_code == 202, response.text
            done = http_two.put(response.headers["location"], params={"digest": digest_of(small)})
            assert done.status_code == 201, done.text
            assert http_one.get(f"/v2/nodes/app/blobs/{digest_of(small)}").content == small
            # Begun inline on one, continued on two (which moves it to the bucket), ended on one.
            first, second = b"begun on one, ", b"continued on two"
            location = start_upload(http_one, "nodes/app")
            response = patch_chunk(http_one, location, first, 0)
            assert response.status_code == 202, response.text
            assert session_keys(store, upload_id(location)) == []
            response = patch_chunk(http_two, response.headers["location"], second, len(first))
            assert response.status_code == 202, response.text
            assert session_keys(store, upload_id(location)) != []
            data = first + second
            done = http_one.put(response.headers["location"], params={"digest": digest_of(data)})
            assert done.status_code == 201, done.text
            assert http_two.get(f"/v2/nodes/app/blobs/{digest_of(data)}").content == data
        assert object_bytes(store, digest_of(data)) == data
        assert keys_under(store, store.layout.uploads) == []


def test_a_patch_cut_off_midway_leaves_the_inline_session_as_it_was(
    server: CargoholdServer,
) -> None:
    """The body breaks off after some bytes: nothing of it counts, and the session goes on
    from where it was."""
    first = b"acknowledged "
    with server.client(timeout=60) as http:
        location = start_upload(http, "inline/broken")
        response = patch_chunk(http, location, first, 0)
        assert response.status_code == 202, response.text
        location = response.headers["location"]

        def breaks_off() -> Iterator[bytes]:
            yield b"x" * 1000
            raise ConnectionAbortedError("the client went away")

        with pytest.raises(ConnectionAbortedError):
            http.patch(location, content=breaks_off())
        status = http.get(location)
        assert status.status_code == 204 and status.headers["range"] == f"0-{len(first) - 1}"
        rest = b"and the rest"
        response = _patch_when_free(http, location, rest, len(first))
        done = http.put(response.headers["location"], params={"digest": digest_of(first + rest)})
        assert done.status_code == 201, done.text
        assert http.get(f"/v2/inline/broken/blobs/{digest_of(first + rest)}").content == (
            first + rest
        )


def _patch_when_free(http: httpx.Client, location: str, data: bytes, start: int) -> httpx.Response:
    """PATCH once the server has given up the broken request (told as 416 with the session's
    range until then), within 30 s."""
    deadline = time.monotonic() + 30
    while True:
        response = patch_chunk(http, location, data, start)
        if response.status_code != 416 or time.monotonic() > deadline:
            assert response.status_code == 202, response.text
            return response
        assert response.headers["range"] == f"0-{start - 1}"
        time.sleep(0.1)
