"""Crashes and collections never leave metadata claiming bytes that are not on disk.

The invariant a client relies on: a blob HEAD answering 200 means a GET returns every byte
with the right digest. Docker HEADs a layer, skips the upload when it exists and pushes a
manifest that references it; a HEAD that lies makes an image that cannot be pulled.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import start_upload
from tests.support.oci import digest_of
from tests.support.server import CargoholdServer

KIB = 1024
MIB = 1024 * KIB
ROUNDS = 6
UPLOADERS = 12


def _blob(seed: str, size: int) -> bytes:
    """Distinct bytes per seed: random data large enough that an fsync takes a while."""
    return random.Random(seed).randbytes(size)


def _prepare(url: str, auth: httpx.Auth, repo: str, data: bytes) -> str:
    """A chunked upload holding every byte of `data`; returns where to PUT to finish it."""
    with httpx.Client(base_url=url, auth=auth, timeout=20) as http:
        location = start_upload(http, repo)
        patched = http.patch(location, content=data)
        assert patched.status_code == 202, patched.text
        return str(patched.headers["Location"])


def _finalize(
    url: str, auth: httpx.Auth, repo: str, data: bytes, location: str | None, go: threading.Barrier
) -> None:
    """Finish one upload when every thread is ready; errors from the kill are expected."""
    digest = digest_of(data)
    with (
        httpx.Client(base_url=url, auth=auth, timeout=20) as http,
        contextlib.suppress(httpx.HTTPError),
    ):
        go.wait(10)
        if location is None:  # a whole blob in one request
            http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
        else:
            http.put(location, params={"digest": digest})


def _assert_heads_tell_the_truth(server: CargoholdServer, repo: str, blobs: list[bytes]) -> int:
    """Every blob HEAD 200 is a full GET with the right digest; returns how many were there."""
    present = 0
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as http:
        for data in blobs:
            digest = digest_of(data)
            head = http.head(f"/v2/{repo}/blobs/{digest}")
            assert head.status_code in (200, 404), head.status_code
            if head.status_code == 404:
                continue
            present += 1
            assert int(head.headers["Content-Length"]) == len(data)
            got = http.get(f"/v2/{repo}/blobs/{digest}")
            assert got.status_code == 200, (digest, got.status_code, got.text[:200])
            assert f"sha256:{hashlib.sha256(got.content).hexdigest()}" == digest
    return present


@pytest.mark.timeout(300)
def test_kill9_at_random_points_during_finalizes_never_leaves_a_lying_head(
    fresh_registry: CargoholdServer,
) -> None:
    server = fresh_registry
    repo = "crash/finalize"
    pushed: list[bytes] = []
    chooser = random.Random(1234)
    for round_number in range(ROUNDS):
        blobs = [
            # Small blobs take the one-step path, larger ones are staged and renamed.
            _blob(f"{round_number}-{i}", chooser.choice([4 * KIB, 200 * KIB, 3 * MIB]))
            for i in range(UPLOADERS)
        ]
        pushed.extend(blobs)
        locations = [
            None if i % 3 == 0 else _prepare(server.url, server.admin_auth, repo, data)
            for i, data in enumerate(blobs)
        ]
        go = threading.Barrier(len(blobs) + 1)
        threads = [
            threading.Thread(
                target=_finalize, args=(server.url, server.admin_auth, repo, data, location, go)
            )
            for data, location in zip(blobs, locations, strict=True)
        ]
        for thread in threads:
            thread.start()
        go.wait(10)
        # Kill a few milliseconds after the simultaneous finalizes, when some are half done.
        time.sleep(chooser.uniform(0.002, 0.05))
        server.kill9()
        for thread in threads:
            thread.join(30)
        server.start()
        _assert_heads_tell_the_truth(server, repo, pushed)
    # Pushing everything again heals whatever the kills interrupted.
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
        for data in pushed:
            response = http.post(
                f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(data)}, content=data
            )
            assert response.status_code == 201, response.text
    assert _assert_heads_tell_the_truth(server, repo, pushed) == len(pushed)


@pytest.mark.timeout(300)
def test_gc_racing_pushes_of_the_same_digests_never_leaves_a_link_without_bytes(
    tmp_path: Path,
) -> None:
    """Collections with no grace period sweep blobs while clients push the same bytes again."""
    server = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_GC_GRACE_SECONDS": "0"}
    ).start()
    try:
        repo = "crash/gc-race"
        blobs = [_blob(f"gc-{i}", 64 * KIB) for i in range(40)]
        stop = threading.Event()
        errors: list[str] = []

        def pusher(offset: int) -> None:
            with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as http:
                turn = offset
                while not stop.is_set():
                    data = blobs[turn % len(blobs)]
                    turn += 1
                    response = http.post(
                        f"/v2/{repo}/blobs/uploads/",
                        params={"digest": digest_of(data)},
                        content=data,
                    )
                    if response.status_code >= 500:
                        errors.append(response.text)

        def collector() -> None:
            with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
                while not stop.is_set():
                    http.post("/api/v1/gc").read()

        threads = [threading.Thread(target=pusher, args=(i * 7,)) for i in range(4)]
        threads.append(threading.Thread(target=collector))
        for thread in threads:
            thread.start()
        try:
            # A HEAD and a GET racing a sweep may disagree for a moment, as with any
            # registry; what must never happen is a row left claiming deleted bytes.
            time.sleep(8)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert not errors, errors[:3]
        _assert_heads_tell_the_truth(server, repo, blobs)
    finally:
        server.stop()


def test_gc_killed_mid_sweep_leaves_no_row_claiming_deleted_bytes(tmp_path: Path) -> None:
    """A sweep demotes rows before deleting bytes: a kill in between never makes HEAD lie."""
    data_dir = tmp_path / "data"
    server = CargoholdServer(data_dir, extra_env={"CARGOHOLD_GC_GRACE_SECONDS": "0"}).start()
    try:
        repo = "crash/gc-kill"
        blobs = [_blob(f"sweep-{i}", 32 * KIB) for i in range(300)]
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
            for data in blobs:
                response = http.post(
                    f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(data)}, content=data
                )
                assert response.status_code == 201

        def collect() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{server.url}/api/v1/gc", auth=server.admin_auth, timeout=30).read()

        # Kill during real sweeps, at a different point each time.
        for delay in (0.02, 0.06, 0.15):
            sweep = threading.Thread(target=collect)
            sweep.start()
            time.sleep(delay)
            server.kill9()
            sweep.join(30)
            server.start()
            _assert_heads_tell_the_truth(server, repo, blobs)
    finally:
        server.stop()
