"""/healthz and /readyz on real servers: anonymous answers with access control on, and
/readyz naming the store that does not answer (a blob directory that is gone, a job queue that
hangs, a metadata store that stopped), while /healthz still says the process lives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer
from tests.support.server import CargoholdServer


def readyz(server: CargoholdServer) -> tuple[int, dict[str, Any]]:
    # Anonymous, as a load balancer or Kubernetes asks.
    response = httpx.get(f"{server.url}/readyz", timeout=30)
    return response.status_code, response.json()


def healthy(server: CargoholdServer) -> bool:
    response = httpx.get(f"{server.url}/healthz", timeout=30)
    return response.status_code == 200 and response.json() == {"status": "ok"}


READY = {
    "status": "ready",
    "failed": [],
    "checks": {"metadata": "ok", "blobs": "ok", "jobs": "ok"},
}


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_probes_answer_anonymously_with_access_control_on(tmp_path: Path) -> None:
    server = CargoholdServer(tmp_path / "data", workers=1).start()
    try:
        assert httpx.get(f"{server.url}/v2/", timeout=30).status_code == 401  # access is on
        assert healthy(server)
        assert readyz(server) == (200, READY)
        head = httpx.head(f"{server.url}/readyz", timeout=30)
        assert head.status_code == 200 and head.content == b""
    finally:
        server.stop()


def test_a_blob_store_that_is_gone_is_not_ready(tmp_path: Path) -> None:
    server = CargoholdServer(tmp_path / "data", workers=1).start()
    blobs = tmp_path / "data" / "blobs"
    moved = tmp_path / "blobs-elsewhere"
    try:
        # The blob directory replaced by a file (root reads any directory, whatever its mode).
        blobs.rename(moved)
        blobs.write_text("not a directory")
        status, body = readyz(server)
        assert status == 503
        assert body == {
            "status": "not ready",
            "failed": ["blobs"],
            "checks": {"metadata": "ok", "blobs": "failed", "jobs": "ok"},
        }
        assert healthy(server)
        blobs.unlink()
        moved.rename(blobs)
        assert readyz(server) == (200, READY)
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "readiness: blobs failed: NotADirectoryError" in log
    assert "readiness: blobs answers again" in log


def test_a_job_queue_that_hangs_times_out(tmp_path: Path, redis: RedisServer) -> None:
    server = CargoholdServer(
        tmp_path / "data",
        workers=1,
        extra_env={
            "CARGOHOLD_JOB_STORE": redis.url,
            "CARGOHOLD_READINESS_TIMEOUT_SECONDS": "0.5",
        },
    ).start()
    try:
        assert readyz(server) == (200, READY)
        redis.pause()
        try:
            for _ in range(3):  # later probes wait for the one run still hanging
                status, body = readyz(server)
                assert status == 503
                assert body["failed"] == ["jobs"]
                assert body["checks"]["jobs"] == "timed out"
            assert healthy(server)
        finally:
            redis.resume()
        # The hung round trip ends once Redis answers; then the queue is reachable again.
        for _ in range(50):
            if readyz(server)[0] == 200:
                break
        assert readyz(server) == (200, READY)
    finally:
        server.stop()


def test_a_metadata_store_that_stopped_is_not_ready(tmp_path: Path) -> None:
    postgres = PostgresServer().start()
    running = True
    try:
        server = CargoholdServer(
            tmp_path / "data",
            workers=1,
            database_url=postgres.create_database("readiness"),
        ).start()
        try:
            assert readyz(server) == (200, READY)
            postgres.stop()
            running = False
            status, body = readyz(server)
            assert status == 503
            # The job queue lives in the same PostgreSQL database.
            assert body["failed"] == ["jobs", "metadata"]
            assert body["checks"]["blobs"] == "ok"
            assert healthy(server)
        finally:
            server.stop()
    finally:
        if running:
            postgres.stop()
