"""Faults: a killed server mid-upload, failed digests, concurrent pushes, missing blobs."""

from __future__ import annotations

import contextlib
import hashlib
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
    stored_blob_paths,
    upload_id,
)
from tests.support.oci import digest_of, manifest_document, push_blob, put_manifest
from tests.support.production import staged_objects, stored_object
from tests.support.server import CargoholdServer

MIB = 1024 * 1024


def _staged_files(server: CargoholdServer) -> list[Path]:
    return sorted((Path(server.data_dir) / "blobs" / "uploads").iterdir())


def kill9_during_patch(server: CargoholdServer, location: str, acknowledged: int) -> None:
    """Send a PATCH whose body stalls half way; kill -9 the server once some of it is on disk.

    Afterwards the session's staged file holds more than the `acknowledged` bytes.
    """
    staged = staged_upload_path(Path(server.data_dir), upload_id(location))
    release = threading.Event()

    def stalled_body() -> Iterator[bytes]:
        yield b"garbage!" * (MIB // 4)
        release.wait(30)

    def send() -> None:
        with (
            httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as other,
            contextlib.suppress(httpx.HTTPError),
        ):
            other.patch(location, content=stalled_body())

    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while staged.stat().st_size <= acknowledged and time.monotonic() < deadline:
            time.sleep(0.02)
        assert staged.stat().st_size > acknowledged, "the stalled PATCH never reached the disk"
        server.kill9()
    finally:
        release.set()
        sender.join(30)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("interrupted", ["between-requests", "mid-request"])
@pytest.mark.parametrize("final_body", [True, False])
def test_kill9_during_chunked_upload_then_resume(
    fresh_registry: CargoholdServer, interrupted: str, final_body: bool
) -> None:
    server = fresh_registry
    repo = "faults/resume"
    data = deterministic_bytes(3 * MIB + 12345, b"resume")
    cut = 2 * MIB
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        location = start_upload(client, repo)
        for start in range(0, cut, 512 * 1024):
            response = patch_chunk(client, location, data[start : start + 512 * 1024], start)
            assert response.status_code == 202, response.text
            location = response.headers["Location"]

        if interrupted == "mid-request":
            kill9_during_patch(server, location, acknowledged=cut)
        else:
            server.kill9()

    server.start()
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        status = client.get(location)
        assert status.status_code == 204, status.text
        assert status.headers["Range"] == f"0-{cut - 1}"

        middle = cut + MIB // 2
        response = patch_chunk(client, location, data[cut:middle], cut)
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
        digest = digest_of(data)
        if final_body:
            put = client.put(location, params={"digest": digest}, content=data[middle:])
        else:
            response = client.patch(location, content=data[middle:])
            assert response.status_code == 202, response.text
            assert response.headers["Range"] == f"0-{len(data) - 1}"
            put = client.put(response.headers["Location"], params={"digest": digest})
        assert put.status_code == 201, put.text

        get = client.get(f"/v2/{repo}/blobs/{digest}")
        assert get.status_code == 200
        assert get.headers["Docker-Content-Digest"] == digest
        assert get.headers["Content-Length"] == str(len(data))
        assert hashlib.sha256(get.content).hexdigest() == digest.split(":")[1]
    assert [p.stat().st_size for p in stored_blob_paths(Path(server.data_dir), digest)] == [
        len(data)
    ]


@pytest.mark.timeout(120)
def test_interrupted_request_bytes_never_reach_the_blob(fresh_registry: CargoholdServer) -> None:
    """Kill mid-PATCH, restart, close with a body-less PUT: the blob is what was acknowledged."""
    server = fresh_registry
    repo = "faults/trim"
    acknowledged = deterministic_bytes(100_000, b"trim")
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        location = patch_chunk(client, start_upload(client, repo), acknowledged, 0).headers[
            "Location"
        ]
        kill9_during_patch(server, location, acknowledged=len(acknowledged))

    server.start()
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        digest = digest_of(acknowledged)
        put = client.put(location, params={"digest": digest})
        assert put.status_code == 201, put.text
        get = client.get(f"/v2/{repo}/blobs/{digest}")
        assert get.headers["Content-Length"] == str(len(acknowledged))
        assert get.content == acknowledged
        ranged = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=-8"})
        assert ranged.content == acknowledged[-8:]


def test_digest_mismatch_leaves_nothing_behind(fresh_registry: CargoholdServer) -> None:
    server = fresh_registry
    repo = "faults/mismatch"
    data = deterministic_bytes(MIB + 7, b"mismatch")
    claimed = digest_of(b"not the uploaded bytes")
    data_dir = Path(server.data_dir)
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        # Chunked, then a PUT with the wrong digest.
        location = start_upload(client, repo)
        location = patch_chunk(client, location, data[:MIB], 0).headers["Location"]
        put = client.put(location, params={"digest": claimed}, content=data[MIB:])
        assert_error(put, 400, "DIGEST_INVALID")
        assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")

        # Monolithic, with the wrong digest.
        response = client.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": claimed}, content=data
        )
        assert_error(response, 400, "DIGEST_INVALID")

        for digest in (claimed, digest_of(data)):
            assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
            assert stored_blob_paths(data_dir, digest) == []
        assert _staged_files(server) == []

        # Nor can a manifest be pushed on the strength of the failed upload.
        config = b'{"architecture":"amd64"}'
        push_blob(client, repo, config)
        document = manifest_document(config, [data])
        assert_error(put_manifest(client, repo, "v1", document), 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("same_repository", [True, False])
def test_concurrent_pushes_of_the_same_blob(
    registry: CargoholdServer, repo: str, same_repository: bool
) -> None:
    clients = 16
    data = deterministic_bytes(2 * MIB + 3, repo.encode())
    digest = digest_of(data)
    repos = [repo if same_repository else f"{repo}/c{i}" for i in range(clients)]
    ready = threading.Barrier(clients, timeout=60)
    results: list[int | str] = [0] * clients
    uploads: list[str] = [""] * clients

    def push(i: int) -> None:
        try:
            with httpx.Client(
                base_url=registry.url, auth=registry.admin_auth, timeout=60
            ) as client:
                location = start_upload(client, repos[i])
                uploads[i] = upload_id(location)
                response = patch_chunk(client, location, data[:MIB], 0)
                assert response.status_code == 202, response.text
                ready.wait()
                put = client.put(
                    response.headers["Location"], params={"digest": digest}, content=data[MIB:]
                )
                results[i] = put.status_code
        except Exception as exc:  # reported below, with the others
            results[i] = repr(exc)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert results == [201] * clients

    with httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=60) as client:
        for name in set(repos):
            get = client.get(f"/v2/{name}/blobs/{digest}")
            assert get.status_code == 200
            assert get.content == data
    settings = registry.settings()
    if settings.storage_driver == "s3":
        # One object under the digest, and nothing left of the sessions.
        assert stored_object(settings, digest) == data
        assert [key for u in uploads for key in staged_objects(settings, u)] == []
        return
    data_dir = Path(registry.data_dir)
    stored = stored_blob_paths(data_dir, digest)
    assert len(stored) == 1
    assert stored[0].parent.parent.name == "sha256"
    assert stored[0].read_bytes() == data
    assert not any(staged_upload_path(data_dir, u).exists() for u in uploads)


def test_manifest_referencing_a_missing_blob_is_rejected(client: httpx.Client, repo: str) -> None:
    config = b'{"architecture":"arm64"}'
    layer = b"a layer that was never pushed " + repo.encode()
    push_blob(client, repo, config)

    response = put_manifest(client, repo, "v1", manifest_document(config, [layer]))
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404

    # A missing config is as bad as a missing layer.
    push_blob(client, repo, layer)
    missing_config = b'{"architecture":"s390x"}'
    response = put_manifest(client, repo, "v1", manifest_document(missing_config, [layer]))
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")

    # A blob linked only by another repository does not count.
    elsewhere = b"only in another repository " + repo.encode()
    push_blob(client, f"{repo}/other", elsewhere)
    response = put_manifest(client, repo, "v1", manifest_document(config, [layer, elsewhere]))
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404

    # With every blob in place the same manifest is accepted.
    push_blob(client, repo, elsewhere)
    response = put_manifest(client, repo, "v1", manifest_document(config, [layer, elsewhere]))
    assert response.status_code == 201, response.text
