"""`cargohold fsck`: records without bytes and bytes without records, found and repaired.

The damage is what older versions (which linked a blob before writing it) left after a
crash, or what an operator's hands leave in the data directory; the tests make it by hand.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import stored_blob_paths
from tests.support.oci import digest_of, push_blob
from tests.support.postgres import PostgresServer
from tests.support.server import CARGOHOLD, CargoholdServer

REPO = "fsck/app"


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CargoholdServer]:
    database_url = ""
    if request.param == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        database_url = pg.create_database(f"fsck_{tmp_path.name.replace('-', '_')[-40:]}")
    started = CargoholdServer(tmp_path / "data", database_url=database_url).start()
    yield started
    started.stop()


def _fsck(server: CargoholdServer, *args: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [CARGOHOLD, "fsck", *args, "--json", "--registry", server.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 2), done.stderr
    return done.returncode, json.loads(done.stdout)


def _blob(seed: str, size: int = 50_000) -> bytes:
    return random.Random(seed).randbytes(size)


def _blob_path(server: CargoholdServer, digest: str) -> Path:
    (path,) = stored_blob_paths(Path(server.data_dir), digest)
    return path


def _orphan(server: CargoholdServer, data: bytes) -> Path:
    """Bytes placed in the store's tree with no record, as a crash between write and link."""
    hexpart = digest_of(data).split(":", 1)[1]
    path = Path(server.data_dir) / "blobs" / "blobs" / "sha256" / hexpart[:2] / hexpart
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_clean_registry_has_nothing_to_repair(server: CargoholdServer) -> None:
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as http:
        for i in range(5):
            push_blob(http, REPO, _blob(f"clean-{i}"))
    status, report = _fsck(server)
    assert status == 0
    assert report["checkedRows"] == 5 and report["checkedObjects"] == 5
    assert report["missing"] == report["damaged"] == report["orphans"] == 0


def test_records_without_bytes_are_reported_then_demoted_and_healed_by_a_push(
    server: CargoholdServer,
) -> None:
    lost, cut, fine = _blob("lost"), _blob("cut"), _blob("fine")
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as http:
        for data in (lost, cut, fine):
            push_blob(http, REPO, data)
        _blob_path(server, digest_of(lost)).unlink()
        with _blob_path(server, digest_of(cut)).open("r+b") as f:
            f.truncate(100)
        # What a client sees before the repair: HEAD says yes, GET cannot deliver.
        assert http.head(f"/v2/{REPO}/blobs/{digest_of(lost)}").status_code == 200

        status, report = _fsck(server)
        assert status == 2
        assert (report["missing"], report["damaged"], report["orphans"]) == (1, 1, 0)
        assert report["missingBytes"] == len(lost)
        assert {e["digest"] for e in report["examples"]} == {digest_of(lost), digest_of(cut)}
        assert report["repaired"] == 0
        assert http.head(f"/v2/{REPO}/blobs/{digest_of(lost)}").status_code == 200

        status, report = _fsck(server, "--repair")
        assert status == 0 and report["repaired"] == 2
        for data in (lost, cut):
            assert http.head(f"/v2/{REPO}/blobs/{digest_of(data)}").status_code == 404
        assert http.head(f"/v2/{REPO}/blobs/{digest_of(fine)}").status_code == 200
        # Each repair is in the audit log, under the admin who asked for it, with why.
        events = http.get("/api/v1/audit", params={"action": "blob.demote"}).json()["events"]
        reasons = {e["digest"]: e["detail"]["reason"] for e in events if e["actor"] == "admin"}
        assert reasons == {
            digest_of(lost): "fsck --repair: bytes missing",
            digest_of(cut): "fsck --repair: bytes damaged",
        }

        # A client pushes the blobs again (the HEAD told it to): the bytes are written anew.
        for data in (lost, cut):
            push_blob(http, REPO, data)
            got = http.get(f"/v2/{REPO}/blobs/{digest_of(data)}")
            assert got.status_code == 200 and got.content == data
    status, report = _fsck(server)
    assert status == 0 and report["missing"] == report["damaged"] == 0


def test_bytes_without_records_are_reported_then_deleted(server: CargoholdServer) -> None:
    kept = _blob("kept")
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as http:
        push_blob(http, REPO, kept)
    strays = [_orphan(server, _blob(f"stray-{i}", 10_000)) for i in range(3)]

    status, report = _fsck(server)
    assert status == 2
    assert report["orphans"] == 3 and report["orphanBytes"] == 30_000
    assert all(path.exists() for path in strays)

    status, report = _fsck(server, "--repair")
    assert status == 0 and report["repaired"] == 3
    assert not any(path.exists() for path in strays)
    assert _blob_path(server, digest_of(kept)).exists()
    status, report = _fsck(server)
    assert status == 0 and report["orphans"] == 0
    # Each deleted object is in the audit log, under the admin who asked for the repair.
    with server.client() as admin:
        events = admin.get("/api/v1/audit", params={"action": "blob.delete"}).json()["events"]
    deleted = {e["digest"]: e for e in events}
    assert set(deleted) == {digest_of(_blob(f"stray-{i}", 10_000)) for i in range(3)}
    for entry in deleted.values():
        assert entry["actor"] == "admin" and entry["result"] == "ok"
        assert entry["detail"]["size"] == 10_000
        assert entry["detail"]["reason"].startswith("fsck --repair")


def test_verify_content_finds_bytes_that_changed_in_place(server: CargoholdServer) -> None:
    data = _blob("rot")
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as http:
        push_blob(http, REPO, data)
        path = _blob_path(server, digest_of(data))
        damaged = bytearray(path.read_bytes())
        damaged[1000] ^= 0xFF
        path.write_bytes(bytes(damaged))

        status, report = _fsck(server)
        assert status == 0, "same size: only reading the content can tell"
        status, report = _fsck(server, "--verify-content", "--repair")
        assert report["damaged"] == 1 and report["repaired"] == 1
        push_blob(http, REPO, data)
        assert http.get(f"/v2/{REPO}/blobs/{digest_of(data)}").content == data


def test_fsck_without_a_server_is_one_line_and_a_failure(tmp_path: Path) -> None:
    done = subprocess.run(
        [CARGOHOLD, "fsck", "--registry", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
