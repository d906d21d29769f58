"""A metadata store that cannot be reached is the operator's condition, not a bug: while
PostgreSQL is down every route answers 503 UNAVAILABLE with Retry-After (which docker,
containerd and skopeo retry), never a 500 with a traceback, and the server serves again by
itself once the database is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.jsonlog import json_log
from tests.support.oci import error_code, push_image
from tests.support.postgres import PostgresServer
from tests.support.server import CargoholdServer

REPO = "library/outage"


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


def _requests(client: httpx.Client, digest: str) -> list[tuple[str, str]]:
    """What pullers, pushers and administrators send, each needing the metadata store."""
    return [
        ("GET", f"/v2/{REPO}/manifests/v1"),
        ("HEAD", f"/v2/{REPO}/manifests/v1"),
        ("GET", f"/v2/{REPO}/manifests/{digest}"),
        ("GET", f"/v2/{REPO}/tags/list"),
        ("GET", "/v2/_catalog"),
        ("POST", f"/v2/{REPO}/blobs/uploads/"),
        ("GET", "/api/v1/repositories"),
    ]


def test_a_stopped_database_answers_503_and_the_server_recovers(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    server = CargoholdServer(
        tmp_path / "data", workers=1, database_url=postgres.create_database("outage")
    ).start()
    try:
        with server.client() as client:
            digest, _ = push_image(client, REPO, "v1")
            requests = _requests(client, digest)
            postgres.pause()
            for method, path in requests:
                response = client.request(method, path)
                assert response.status_code == 503, (method, path, response.text)
                assert response.headers["retry-after"] == "5"
                if method != "HEAD":
                    assert error_code(response) == "UNAVAILABLE"
                    assert "metadata store" in response.json()["errors"][0]["message"]
            postgres.resume()
            # Connections lost with the old server are replaced: served again, bounded wait.
            deadline = time.monotonic() + 30
            while client.get(f"/v2/{REPO}/manifests/v1").status_code != 200:
                assert time.monotonic() < deadline, "not serving 30 s after the database came back"
                time.sleep(0.2)
            for method, path in requests:
                response = client.request(method, path)
                assert response.status_code < 300, (method, path, response.text)
    finally:
        server.stop()
    entries = json_log(server.log_path)
    unavailable = [e for e in entries if "metadata store unavailable" in str(e.get("message"))]
    assert unavailable, "each refused request is logged as the store's outage"
    assert not [e for e in entries if "unhandled error" in str(e.get("message"))]
