"""`cargohold storage`: figures that agree with each other and with the bytes on disk."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.oci import push_blob, push_image
from tests.support.server import CARGOHOLD, CargoholdServer

CONFIG = b'{"architecture": "amd64"}'
BASE, A1, A2, B1, X1, ORPHAN = (
    b"B" * 1000,
    b"1" * 100,
    b"2" * 200,
    b"3" * 300,
    b"4" * 400,
    b"o" * 50,
)


def _disk_bytes(server: CargoholdServer) -> int:
    return sum(
        p.stat().st_size for p in (server.data_dir / "blobs" / "blobs").rglob("*") if p.is_file()
    )


def test_storage_report_agrees_with_itself_and_the_disk(tmp_path: Path) -> None:
    server = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_GC_GRACE_SECONDS": "0"}
    ).start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
            _, m1 = push_image(http, "alpha/a", "1", config=CONFIG, layers=[BASE, A1])
            _, m2 = push_image(http, "alpha/a", "2", config=CONFIG, layers=[BASE, A2])
            push_image(http, "alpha/b", "1", config=CONFIG, layers=[BASE, B1])
            push_image(http, "beta/x", "1", config=CONFIG, layers=[BASE, X1])
            push_blob(http, "beta/x", ORPHAN)
            time.sleep(0.05)
            report = http.get("/api/v1/storage").json()

            c, base = len(CONFIG), len(BASE)
            repos = {row["repository"]: row for row in report["repositories"]}
            assert repos["alpha/a"] == {
                "repository": "alpha/a",
                "manifests": 2,
                "logicalBytes": len(m1) + len(m2) + 2 * (c + base) + 100 + 200,
                "uniqueBytes": c + base + 100 + 200,
            }
            projects = {row["project"]: row for row in report["projects"]}
            assert projects["alpha"]["uniqueBytes"] == c + base + 100 + 200 + 300
            assert projects["alpha"]["sharedWithOtherProjectsBytes"] == c + base
            assert projects["alpha"]["logicalBytes"] == (
                repos["alpha/a"]["logicalBytes"] + repos["alpha/b"]["logicalBytes"]
            )
            # The orphan is past the (zero) grace period: reclaimable, no longer beta's usage.
            assert projects["beta"]["uniqueBytes"] == c + base + 400
            stored = c + base + 100 + 200 + 300 + 400 + 50
            assert (report["storedBlobs"], report["storedBytes"]) == (7, stored)
            assert report["logicalBytes"] == sum(r["logicalBytes"] for r in repos.values())
            assert report["deduplicationRatio"] == round(report["logicalBytes"] / stored, 3)
            assert (report["reclaimableBlobs"], report["reclaimableBytes"]) == (1, 50)
            assert _disk_bytes(server) == stored

            http.post("/api/v1/gc")
            after = http.get("/api/v1/storage").json()
            assert after["storedBytes"] == stored - 50 == _disk_bytes(server)
            assert after["reclaimableBytes"] == 0

        text = subprocess.run(
            [CARGOHOLD, "storage", "--registry", server.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert text.returncode == 0, text.stderr
        assert "alpha" in text.stdout and "deduplication" in text.stdout
        as_json = subprocess.run(
            [CARGOHOLD, "storage", "--json", "--registry", server.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert json.loads(as_json.stdout)["storedBytes"] == stored - 50
    finally:
        server.stop()
