"""A full disk: pushes answer 507 DISK_FULL, deletes and garbage collection free it again;
failed uploads give their staged space back at once.

The full disk is a real 32 MiB tmpfs (mounting one needs root; that test is skipped otherwise).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.support.oci import digest_of, encode, manifest_document, put_manifest, sha256
from tests.support.server import CARGOHOLD, CargoholdServer

MIB = 1024 * 1024
LAYER = 2 * MIB
RESERVE = 4 * MIB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True, timeout=30)


def _push(client: httpx.Client, repo: str, index: int) -> tuple[httpx.Response, dict[str, Any]]:
    """One image: a 2 MiB layer through a chunked session, a small config, the manifest.

    Returns the first response that is not a success (or the manifest PUT's)."""
    layer = deterministic_bytes(LAYER, f"layer-{index}".encode())
    config = json.dumps({"architecture": "amd64", "index": index}).encode()
    document = manifest_document(config, [layer])
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    if response.status_code != 202:
        return response, document
    response = client.patch(response.headers["Location"], content=layer)
    if response.status_code != 202:
        return response, document
    response = client.put(response.headers["Location"], params={"digest": digest_of(layer)})
    if response.status_code != 201:
        return response, document
    response = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(config)}, content=config
    )
    if response.status_code != 201:
        return response, document
    return put_manifest(client, repo, f"v{index}", document), document


def _system(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/v1/system")
    assert response.status_code == 200, response.text
    return response.json()["disk"]  # type: ignore[no-any-return]


def _staged(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "blobs" / "uploads").iterdir())


@pytest.mark.timeout(300)
def test_a_full_disk_refuses_pushes_and_deletes_and_gc_free_it(small_disk: Path) -> None:
    server = CargoholdServer(
        small_disk,
        extra_env={
            "CARGOHOLD_DISK_RESERVE_BYTES": str(RESERVE),
            "CARGOHOLD_GC_GRACE_SECONDS": "0",
            "CARGOHOLD_SCAN_ON_PUSH": "false",
        },
    ).start()
    repo = "full/disk"
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as client:
            assert _system(client)["reserveHeld"] is True
            pushed: list[dict[str, Any]] = []
            failed: httpx.Response | None = None
            failed_document: dict[str, Any] = {}
            for index in range(40):  # 32 MiB holds about a dozen of these images
                response, document = _push(client, repo, index)
                if response.status_code != 201:
                    failed, failed_document = response, document
                    break
                pushed.append(document)
            assert failed is not None, "the 32 MiB disk never filled"
            assert_error(failed, 507, "DISK_FULL")
            assert "disk is full" in failed.json()["errors"][0]["message"]
            assert len(pushed) >= 4

            # Everyone can tell: the log, the admin API and the CLI.
            log_lines = [
                json.loads(line)
                for line in server.log_path.read_text().splitlines()
                if line.startswith("{")
            ]
            assert any(entry["message"].startswith("disk full:") for entry in log_lines)
            full = _system(client)
            assert full["diskFull"] is True and full["reserveHeld"] is False
            assert full["path"] == str(small_disk.resolve())
            info = subprocess.run(
                [CARGOHOLD, "info", "--registry", server.url],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert info.returncode == 0, info.stderr
            assert "disk full" in info.stdout.lower(), info.stdout

            # Further pushes are refused before they write; the failed one left nothing.
            assert_error(client.post(f"/v2/{repo}/blobs/uploads/"), 507, "DISK_FULL")
            assert _staged(small_disk) == []
            # The failed image's layer is either whole (the failure came later) or unknown.
            failed_layer = failed_document["layers"][0]["digest"]
            get = client.get(f"/v2/{repo}/blobs/{failed_layer}")
            assert get.status_code in (200, 404), get.status_code
            if get.status_code == 200:
                assert digest_of(get.content) == failed_layer

            # Deletes work on the full disk, then garbage collection frees the bytes.
            # Six images (12 MiB of layers): room for the reserve (4 MiB) twice over, whatever
            # the metadata database's write-ahead log holds at that moment.
            assert len(pushed) >= 6
            for document in pushed[:6]:
                digest = sha256(encode(document))
                response = client.delete(f"/v2/{repo}/manifests/{digest}")
                assert response.status_code == 202, response.text
            gc = client.post("/api/v1/gc")
            assert gc.status_code == 200, gc.text
            final = json.loads(gc.text.strip().splitlines()[-1])
            assert final["event"] == "done", final
            assert final["report"]["blobs"] >= 12  # six layers and six configs

            freed = _system(client)
            assert freed["diskFull"] is False and freed["reserveHeld"] is True
            assert freed["freeBytes"] > full["freeBytes"]

            # Pushing works again, and what was kept is intact.
            response, _ = _push(client, repo, 1000)
            assert response.status_code == 201, response.text
            kept = pushed[-1]
            layer = client.get(f"/v2/{repo}/blobs/{kept['layers'][0]['digest']}")
            assert layer.status_code == 200
            assert digest_of(layer.content) == kept["layers"][0]["digest"]
            assert _staged(small_disk) == []
    finally:
        server.stop()


def test_a_client_gone_mid_patch_gives_the_staged_space_back_at_once(
    fresh_registry: CargoholdServer,
) -> None:
    """The unacknowledged bytes go when the request fails; acknowledged ones stay resumable."""
    server = fresh_registry
    acknowledged = deterministic_bytes(100_000, b"acknowledged")
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        location = start_upload(client, "gone/client")
        location = patch_chunk(client, location, acknowledged, 0).headers["Location"]
    staged = staged_upload_path(server.data_dir, upload_id(location))

    # A PATCH that promises 8 MiB, sends 2 MiB, and hangs up.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Authorization: {server.admin_authorization}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {8 * MIB}\r\n\r\n".encode()
        )
        raw.sendall(deterministic_bytes(2 * MIB, b"never acknowledged"))
        deadline = time.monotonic() + 20
        while staged.stat().st_size <= len(acknowledged) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert staged.stat().st_size > len(acknowledged), "the PATCH never reached the disk"
    deadline = time.monotonic() + 20
    while staged.stat().st_size != len(acknowledged) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staged.stat().st_size == len(acknowledged)

    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        rest = deterministic_bytes(1000, b"rest")
        # The failed request cuts its bytes back, then lets go of the session: until it has,
        # a PATCH is told the session is busy (416 with the acknowledged Range), and a client
        # sends it again.
        deadline = time.monotonic() + 20
        while True:
            resumed = patch_chunk(client, location, rest, len(acknowledged))
            busy = resumed.status_code == 416 and "another request" in resumed.text
            if not busy or time.monotonic() > deadline:
                break
            assert resumed.headers["Range"] == f"0-{len(acknowledged) - 1}"
            time.sleep(0.05)
        assert resumed.status_code == 202, resumed.text
        location = resumed.headers["Location"]
        put = client.put(location, params={"digest": digest_of(acknowledged + rest)})
        assert put.status_code == 201, put.text
