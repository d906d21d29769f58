"""A push through nginx queues its scan (scan on push is on by default); a worker runs it, not
the node that took the push: the nodes run no job consumer (`job_workers = 0`), and the scan
executions in the logs are the workers'."""

from __future__ import annotations

import time
from typing import Any

from tests.multinode.stack import PROJECT, ProductionStack
from tests.support.images import BuiltImages
from tests.support.jsonlog import json_log
from tests.support.skopeo import Skopeo

SCAN_TASK = "cargohold.jobs.queue.scan: "


def _executions(entries: list[dict[str, Any]]) -> list[str]:
    return [
        str(e["message"])
        for e in entries
        if e.get("logger") == "huey" and str(e.get("message", "")).startswith("Executing ")
    ]


def test_a_scan_on_push_is_run_by_a_worker(
    stack: ProductionStack, skopeo: Skopeo, umoci_images: BuiltImages
) -> None:
    repository = f"{PROJECT}/scanned"
    skopeo.copy(umoci_images.ref("amd64"), f"docker://{stack.nginx.host}/{repository}:1")
    digest = umoci_images.digest("amd64")

    deadline = time.monotonic() + 60
    with stack.admin_client(stack.url) as admin:
        while True:
            result = admin.get(f"/api/v1/repositories/{repository}/manifests/{digest}/scan")
            if result.status_code == 200:
                break
            assert result.status_code == 404, result.text
            assert time.monotonic() < deadline, "the pushed image was never scanned"
            time.sleep(0.25)
    [platform] = result.json()["platforms"]
    packages = {p["name"] for p in platform["inventory"]["packages"]}
    assert packages, platform  # the dpkg status of the image was read

    worker_runs = [
        line for w in stack.workers for line in _executions(w.log_entries()) if SCAN_TASK in line
    ]
    assert worker_runs, "no worker executed a scan"
    for node in stack.nodes:
        entries = json_log(node.log_path)
        assert _executions(entries) == [], f"{node.host} ran jobs"
        assert not any("job consumer started" in str(e.get("message")) for e in entries)
