"""Blob uploads: monolithic, chunked, status, cancel, expiry, digest checks and mounts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import (
    assert_error,
    deterministic_bytes,
    patch_chunk,
    staged_upload_path,
    start_upload,
    upload_id,
)
from tests.support.oci import digest_of, push_blob
from tests.support.server import CargoholdServer

DATA = b"0123456789abcdefghijklmnopqrstuvwxyz" * 100


def assert_session_response(response: httpx.Response, status: int, repo: str, size: int) -> None:
    """A session answer: Location of the session, Range of what it holds, its UUID."""
    assert response.status_code == status, response.text
    location = response.headers["Location"]
    uuid = response.headers["Docker-Upload-UUID"]
    assert location.endswith(f"/v2/{repo}/blobs/uploads/{uuid}")
    if size:
        assert response.headers["Range"] == f"0-{size - 1}"
    else:
        assert "Range" in response.headers


def assert_blob(client: httpx.Client, repo: str, digest: str, data: bytes) -> None:
    response = client.get(f"/v2/{repo}/blobs/{digest}")
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["Docker-Content-Digest"] == digest


def assert_no_blob(client: httpx.Client, repo: str, digest: str) -> None:
    assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


# -- monolithic ----------------------------------------------------------------------------


def test_monolithic_post(client: httpx.Client, repo: str) -> None:
    digest = digest_of(DATA)
    response = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=DATA,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Location"].endswith(f"/v2/{repo}/blobs/{digest}")
    get = client.get(response.headers["Location"])
    assert get.status_code == 200
    assert get.content == DATA


def test_monolithic_post_is_idempotent(client: httpx.Client, repo: str) -> None:
    first = push_blob(client, repo, DATA)
    second = push_blob(client, repo, DATA)
    assert first == second
    assert_blob(client, repo, first, DATA)


def test_post_then_put_with_body(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    digest = digest_of(DATA)
    put = client.put(
        location,
        params={"digest": digest},
        content=DATA,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest
    assert put.headers["Location"].endswith(f"/v2/{repo}/blobs/{digest}")
    assert_blob(client, repo, digest, DATA)
    # The session is closed once the blob exists.
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_post_answers_with_a_session(client: httpx.Client, repo: str) -> None:
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert_session_response(response, 202, repo, 0)


# -- chunked -------------------------------------------------------------------------------


def test_chunked_with_content_range(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    uuid = upload_id(location)
    for start in range(0, len(DATA), 1000):
        chunk = DATA[start : start + 1000]
        response = patch_chunk(client, location, chunk, start)
        assert_session_response(response, 202, repo, start + len(chunk))
        assert response.headers["Docker-Upload-UUID"] == uuid
        location = response.headers["Location"]
    digest = digest_of(DATA)
    put = client.put(location, params={"digest": digest})
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest
    assert_blob(client, repo, digest, DATA)


def test_chunked_without_content_range_appends(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    offset = 0
    for chunk in (DATA[:7], DATA[7:1500], DATA[1500:]):
        response = client.patch(location, content=chunk)
        offset += len(chunk)
        assert_session_response(response, 202, repo, offset)
        location = response.headers["Location"]
    digest = digest_of(DATA)
    assert client.put(location, params={"digest": digest}).status_code == 201
    assert_blob(client, repo, digest, DATA)


def test_chunked_transfer_encoding_bodies(client: httpx.Client, repo: str) -> None:
    """Bodies without Content-Length (streamed) are accepted for PATCH and the final PUT."""

    def stream(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 333):
            yield data[start : start + 333]

    location = start_upload(client, repo)
    response = client.patch(location, content=stream(DATA[:2000]))
    assert_session_response(response, 202, repo, 2000)
    digest = digest_of(DATA)
    put = client.put(
        response.headers["Location"], params={"digest": digest}, content=stream(DATA[2000:])
    )
    assert put.status_code == 201, put.text
    assert_blob(client, repo, digest, DATA)


def test_final_put_with_content_range(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA[:100], 0).headers["Location"]
    digest = digest_of(DATA)
    put = client.put(
        location,
        params={"digest": digest},
        content=DATA[100:],
        headers={"Content-Range": f"100-{len(DATA) - 1}"},
    )
    assert put.status_code == 201, put.text
    assert_blob(client, repo, digest, DATA)


# A closing PUT's body up to 256 KiB is received whole and stored in one step; past that it is
# streamed: both end the same way.
@pytest.mark.parametrize("size", [3000, 256 * 1024, 256 * 1024 + 1, 600 * 1024])
def test_final_put_with_a_body_after_a_patch(client: httpx.Client, repo: str, size: int) -> None:
    data = deterministic_bytes(size, b"final put")
    location = start_upload(client, repo)
    location = patch_chunk(client, location, data[:1000], 0).headers["Location"]
    digest = digest_of(data)
    put = client.put(location, params={"digest": digest}, content=data[1000:])
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest
    assert_blob(client, repo, digest, data)
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_final_put_with_a_body_and_a_wrong_digest_discards_the_session(
    client: httpx.Client, registry: CargoholdServer, repo: str
) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA[:100], 0).headers["Location"]
    claimed = digest_of(b"not what was sent")

    response = client.put(location, params={"digest": claimed}, content=DATA[100:])
    assert_error(response, 400, "DIGEST_INVALID")
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_no_blob(client, repo, claimed)
    assert_no_blob(client, repo, digest_of(DATA))
    assert not staged_upload_path(Path(registry.data_dir), upload_id(location)).exists()


@pytest.mark.parametrize("start", [0, 50, 101])
def test_final_put_with_a_misplaced_last_chunk_leaves_the_session_as_it_was(
    client: httpx.Client, repo: str, start: int
) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA[:100], 0).headers["Location"]
    digest = digest_of(DATA)

    end = start + len(DATA) - 100 - 1
    response = client.put(
        location,
        params={"digest": digest},
        content=DATA[100:],
        headers={"Content-Range": f"{start}-{end}"},
    )
    assert_error(response, 416, "RANGE_INVALID")
    assert response.headers["Range"] == "0-99"
    assert client.get(location).headers["Range"] == "0-99"
    assert_no_blob(client, repo, digest)

    # The client sends the last chunk again, where it belongs.
    put = client.put(
        location,
        params={"digest": digest},
        content=DATA[100:],
        headers={"Content-Range": f"100-{len(DATA) - 1}"},
    )
    assert put.status_code == 201, put.text
    assert_blob(client, repo, digest, DATA)


@pytest.mark.parametrize("start", [0, 50, 101, 5000])
def test_out_of_order_chunk_is_416_with_current_range(
    client: httpx.Client, repo: str, start: int
) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA[:100], 0).headers["Location"]

    response = patch_chunk(client, location, b"z" * 10, start)
    assert_error(response, 416, "RANGE_INVALID")
    assert response.headers["Range"] == "0-99"

    # Nothing of the refused chunk was kept: the upload goes on from where it was.
    status = client.get(location)
    assert status.headers["Range"] == "0-99"
    response = patch_chunk(client, location, DATA[100:], 100)
    assert_session_response(response, 202, repo, len(DATA))
    digest = digest_of(DATA)
    assert client.put(response.headers["Location"], params={"digest": digest}).status_code == 201
    assert_blob(client, repo, digest, DATA)


def test_content_range_disagreeing_with_body_is_refused(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    response = client.patch(location, content=b"abc", headers={"Content-Range": "0-9"})
    assert response.status_code in (400, 416), response.text
    assert client.get(location).status_code == 204
    response = patch_chunk(client, location, b"abc", 0)
    assert_session_response(response, 202, repo, 3)


def test_upload_status(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    status = client.get(location)
    assert_session_response(status, 204, repo, 0)
    assert status.content == b""

    location = patch_chunk(client, location, DATA[:5], 0).headers["Location"]
    status = client.get(location)
    assert_session_response(status, 204, repo, 5)
    assert status.headers["Docker-Upload-UUID"] == upload_id(location)


def test_cancel_upload(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA[:100], 0).headers["Location"]
    response = client.delete(location)
    assert response.status_code == 204

    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch_chunk(client, location, DATA[100:200], 100), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        client.put(location, params={"digest": digest_of(DATA[:100])}), 404, "BLOB_UPLOAD_UNKNOWN"
    )
    assert_error(client.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_no_blob(client, repo, digest_of(DATA[:100]))


@pytest.mark.parametrize("uuid", ["0" * 32, "f" * 32, "not-an-upload", "0" * 200])
def test_unknown_upload_id(client: httpx.Client, repo: str, uuid: str) -> None:
    location = f"/v2/{repo}/blobs/uploads/{uuid}"
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.patch(location, content=b"abc"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        client.put(location, params={"digest": digest_of(b"abc")}, content=b"abc"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )
    assert_error(client.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_no_blob(client, repo, digest_of(b"abc"))


def test_upload_id_under_another_repository_is_unknown(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, f"{repo}/owner")
    location = patch_chunk(client, location, DATA[:10], 0).headers["Location"]
    foreign = f"/v2/{repo}/intruder/blobs/uploads/{upload_id(location)}"

    assert_error(client.get(foreign), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch_chunk(client, foreign, DATA[10:20], 10), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        client.put(foreign, params={"digest": digest_of(DATA[:10])}), 404, "BLOB_UPLOAD_UNKNOWN"
    )
    assert_error(client.delete(foreign), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_no_blob(client, f"{repo}/intruder", digest_of(DATA[:10]))

    # The owner's session is untouched.
    assert client.get(location).headers["Range"] == "0-9"
    digest = digest_of(DATA[:20])
    put = client.put(location, params={"digest": digest}, content=DATA[10:20])
    assert put.status_code == 201, put.text
    assert_blob(client, f"{repo}/owner", digest, DATA[:20])


# -- digests on completion -----------------------------------------------------------------


def test_put_without_digest_is_digest_invalid(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA, 0).headers["Location"]
    assert_error(client.put(location), 400, "DIGEST_INVALID")
    assert_error(client.put(location, params={"digest": ""}), 400, "DIGEST_INVALID")
    # The session survives; the client can close it properly.
    assert client.get(location).headers["Range"] == f"0-{len(DATA) - 1}"
    digest = digest_of(DATA)
    assert client.put(location, params={"digest": digest}).status_code == 201
    assert_blob(client, repo, digest, DATA)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:abc",
        "sha256:" + "A" * 64,
        "sha512:" + "0" * 64,
        "md5:" + "0" * 32,
        "nonsense",
    ],
)
def test_put_with_malformed_digest_is_digest_invalid(
    client: httpx.Client, repo: str, digest: str
) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA[:100], 0).headers["Location"]
    response = client.put(location, params={"digest": digest}, content=DATA[100:])
    assert_error(response, 400, "DIGEST_INVALID")
    # The refused PUT's body was not appended: a retry with the right digest works.
    assert client.get(location).headers["Range"] == "0-99"
    good = digest_of(DATA)
    retry = client.put(location, params={"digest": good}, content=DATA[100:])
    assert retry.status_code == 201, retry.text
    assert_blob(client, repo, good, DATA)


def test_monolithic_post_with_malformed_digest(client: httpx.Client, repo: str) -> None:
    response = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": "sha256:1"}, content=DATA
    )
    assert_error(response, 400, "DIGEST_INVALID")


def test_digest_mismatch_discards_the_session(
    client: httpx.Client, registry: CargoholdServer, repo: str
) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA, 0).headers["Location"]
    claimed = digest_of(b"something else entirely")

    response = client.put(location, params={"digest": claimed})
    assert_error(response, 400, "DIGEST_INVALID")
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_no_blob(client, repo, claimed)
    assert_no_blob(client, repo, digest_of(DATA))
    assert not staged_upload_path(Path(registry.data_dir), upload_id(location)).exists()


def test_monolithic_digest_mismatch_stores_nothing(client: httpx.Client, repo: str) -> None:
    claimed = digest_of(b"what the client says")
    response = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": claimed}, content=DATA)
    assert_error(response, 400, "DIGEST_INVALID")
    assert_no_blob(client, repo, claimed)
    assert_no_blob(client, repo, digest_of(DATA))


def test_sha512_chunked_upload(client: httpx.Client, repo: str) -> None:
    location = start_upload(client, repo)
    location = patch_chunk(client, location, DATA[:999], 0).headers["Location"]
    digest = digest_of(DATA, "sha512")
    put = client.put(location, params={"digest": digest}, content=DATA[999:])
    assert put.status_code == 201, put.text
    assert_blob(client, repo, digest, DATA)


# -- session expiry ------------------------------------------------------------------------


def test_idle_sessions_expire(tmp_path: Path) -> None:
    server = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_UPLOAD_EXPIRY_SECONDS": "2"}
    ).start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
            repo = "expiry/test"
            idle = start_upload(client, repo)
            idle = patch_chunk(client, idle, DATA[:10], 0).headers["Location"]
            busy = start_upload(client, repo)
            offset = 0
            # The busy session is written to every second; each write resets its clock.
            for _ in range(4):
                busy = patch_chunk(client, busy, DATA[offset : offset + 10], offset).headers[
                    "Location"
                ]
                offset += 10
                time.sleep(1.0)

            assert_error(patch_chunk(client, idle, DATA[10:20], 10), 404, "BLOB_UPLOAD_UNKNOWN")
            assert_error(client.get(idle), 404, "BLOB_UPLOAD_UNKNOWN")
            # Gone with its staged bytes, not only forgotten.
            assert not staged_upload_path(server.data_dir, upload_id(idle)).exists()
            put = client.put(idle, params={"digest": digest_of(DATA[:10])})
            assert_error(put, 404, "BLOB_UPLOAD_UNKNOWN")
            assert_no_blob(client, repo, digest_of(DATA[:10]))

            digest = digest_of(DATA[:offset])
            put = client.put(busy, params={"digest": digest})
            assert put.status_code == 201, put.text
            assert_blob(client, repo, digest, DATA[:offset])
    finally:
        server.stop()


def test_expired_sessions_and_orphaned_staging_files_are_swept(tmp_path: Path) -> None:
    """Nobody touches them again: the server's own housekeeping removes them."""
    server = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_UPLOAD_EXPIRY_SECONDS": "2"}
    ).start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
            location = patch_chunk(client, start_upload(client, "sweep/me"), DATA, 0).headers[
                "Location"
            ]
            staged = staged_upload_path(server.data_dir, upload_id(location))
            assert staged.exists()
            # What a crash in the middle of a monolithic upload leaves: no session row.
            orphan = server.data_dir / "blobs" / "uploads" / ("f" * 32)
            orphan.write_bytes(b"half a layer")
            fresh = server.data_dir / "blobs" / "uploads" / ("e" * 32)
            deadline = time.monotonic() + 20
            while (staged.exists() or orphan.exists()) and time.monotonic() < deadline:
                fresh.write_bytes(b"still being written")  # keeps its clock young
                time.sleep(0.25)
            assert not staged.exists()
            assert not orphan.exists()
            assert fresh.exists()
            assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    finally:
        server.stop()


# -- cross-repository mount ----------------------------------------------------------------


def test_mount_from_a_repository_that_links_the_blob(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, f"{repo}/source", DATA)
    target = f"{repo}/target"
    response = client.post(
        f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": f"{repo}/source"}
    )
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Location"].endswith(f"/v2/{target}/blobs/{digest}")
    assert_blob(client, target, digest, DATA)


@pytest.mark.parametrize("source", ["without-blob", "never-created", "Invalid_Name!", ""])
def test_mount_falls_back_to_an_upload_session(
    client: httpx.Client, repo: str, source: str
) -> None:
    digest = push_blob(client, f"{repo}/holder", DATA)
    push_blob(client, f"{repo}/without-blob", b"unrelated")
    target = f"{repo}/target"
    from_name = f"{repo}/{source}" if source in ("without-blob", "never-created") else source
    response = client.post(
        f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": from_name}
    )
    assert_session_response(response, 202, target, 0)
    assert_no_blob(client, target, digest)

    # The session is an ordinary one: the client uploads the blob through it.
    put = client.put(response.headers["Location"], params={"digest": digest}, content=DATA)
    assert put.status_code == 201, put.text
    assert_blob(client, target, digest, DATA)


def test_mount_without_from(client: httpx.Client, repo: str) -> None:
    data = b"mount me without naming the source " + repo.encode()
    digest = push_blob(client, f"{repo}/somewhere", data)
    response = client.post(f"/v2/{repo}/target/blobs/uploads/", params={"mount": digest})
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert_blob(client, f"{repo}/target", digest, data)

    unknown = digest_of(b"no repository links this " + repo.encode())
    response = client.post(f"/v2/{repo}/target/blobs/uploads/", params={"mount": unknown})
    assert_session_response(response, 202, f"{repo}/target", 0)
    assert_no_blob(client, f"{repo}/target", unknown)


def test_mount_of_an_unlinked_digest_falls_back(client: httpx.Client, repo: str) -> None:
    """A blob deleted from the source is no longer mountable from it."""
    digest = push_blob(client, f"{repo}/source", DATA)
    assert client.delete(f"/v2/{repo}/source/blobs/{digest}").status_code == 202
    response = client.post(
        f"/v2/{repo}/target/blobs/uploads/", params={"mount": digest, "from": f"{repo}/source"}
    )
    assert_session_response(response, 202, f"{repo}/target", 0)
    assert_no_blob(client, f"{repo}/target", digest)


# -- names and errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Upper", "a//b", "-leading", "trailing-", "a/.b", "x" * 256, "a/" * 130 + "b"]
)
def test_invalid_repository_name(client: httpx.Client, name: str) -> None:
    assert_error(client.post(f"/v2/{name}/blobs/uploads/"), 400, "NAME_INVALID")
    response = client.post(
        f"/v2/{name}/blobs/uploads/", params={"digest": digest_of(b"x")}, content=b"x"
    )
    assert_error(response, 400, "NAME_INVALID")
    assert_error(client.get(f"/v2/{name}/blobs/uploads/{'0' * 32}"), 400, "NAME_INVALID")


def test_a_second_request_on_a_busy_upload_is_refused_and_corrupts_nothing(
    registry: CargoholdServer, repo: str
) -> None:
    """Two PATCHes racing on one session: the second is 416, the first lands intact."""
    first = b"A" * (256 * 1024)
    second = b"B" * len(first)
    started = threading.Event()
    release = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield first[:1024]
        started.set()
        release.wait(timeout=30)
        yield first[1024:]

    with (
        httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=60) as a,
        httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=60) as b,
    ):
        location = start_upload(a, repo)
        results: dict[str, httpx.Response] = {}
        worker = threading.Thread(
            target=lambda: results.setdefault("first", a.patch(location, content=slow_body()))
        )
        worker.start()
        assert started.wait(timeout=30)
        time.sleep(0.3)  # let the server take the upload before the competitor arrives
        competing = patch_chunk(b, location, second)
        release.set()
        worker.join(timeout=60)
        assert competing.status_code == 416, competing.text
        assert_error(competing, 416, "RANGE_INVALID")
        assert results["first"].status_code == 202
        assert results["first"].headers["Range"] == f"0-{len(first) - 1}"
        done = a.put(location, params={"digest": digest_of(first)})
        assert done.status_code == 201, done.text
        assert_blob(a, repo, digest_of(first), first)


@pytest.mark.parametrize("content_range", ["bytes=0-9", "10-5", "a-b", "0-"])
def test_malformed_content_range_is_blob_upload_invalid(
    client: httpx.Client, repo: str, content_range: str
) -> None:
    location = start_upload(client, repo)
    response = client.patch(location, content=DATA[:10], headers={"Content-Range": content_range})
    assert_error(response, 400, "BLOB_UPLOAD_INVALID")
    # The session is untouched and still usable.
    assert patch_chunk(client, location, DATA[:10], 0).status_code == 202
