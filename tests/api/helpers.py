"""Helpers for the blob and upload API tests: chunked uploads, error checks, stored files.

Digests, blob pushes and manifests come from `tests.support.oci`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.oci import digest_of


def error_codes(response: httpx.Response) -> list[str]:
    """The codes of a distribution-spec error body, checking its shape on the way."""
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("errors"), list), body
    assert body["errors"], body
    for error in body["errors"]:
        assert isinstance(error.get("code"), str), error
        assert isinstance(error.get("message"), str), error
    return [error["code"] for error in body["errors"]]


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert code in error_codes(response), response.text


def start_upload(client: httpx.Client, repo: str) -> str:
    """Open an upload session; returns its Location."""
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def upload_id(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def patch_chunk(
    client: httpx.Client, location: str, data: bytes, start: int | None = None
) -> httpx.Response:
    """PATCH one chunk; with `start`, a Content-Range `start-end` is sent."""
    headers = {"Content-Type": "application/octet-stream"}
    if start is not None:
        headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
    return client.patch(location, content=data, headers=headers)


def push_blob_chunked(
    client: httpx.Client,
    repo: str,
    data: bytes,
    chunk_size: int,
    algorithm: str = "sha256",
) -> str:
    """POST, PATCH chunks with Content-Range, then PUT ?digest=; returns the digest."""
    location = start_upload(client, repo)
    for start in range(0, len(data), chunk_size):
        response = patch_chunk(client, location, data[start : start + chunk_size], start)
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
    digest = digest_of(data, algorithm)
    response = client.put(location, params={"digest": digest})
    assert response.status_code == 201, response.text
    return digest


def stored_blob_paths(data_dir: Path, digest: str) -> list[Path]:
    """Every file under the filesystem store's blob tree named after `digest`."""
    hexpart = digest.split(":", 1)[1]
    return sorted(p for p in (data_dir / "blobs" / "blobs").rglob(hexpart) if p.is_file())


def staged_upload_path(data_dir: Path, upload: str) -> Path:
    return data_dir / "blobs" / "uploads" / upload


def deterministic_bytes(size: int, seed: bytes) -> bytes:
    """Deterministic, non-repeating bytes: a misplaced chunk changes the digest."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """The job run once it succeeded or failed (bounded: fails after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"job still {job['state']} after {timeout}s"
        time.sleep(0.1)
