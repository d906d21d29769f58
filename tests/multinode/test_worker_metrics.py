"""Jobs a `cargohold worker` runs count in every node's /metrics: the nodes run no jobs
(`job_workers = 0`) and share no metrics directory with the workers, so what they show of
`cargohold_job_runs_total` can only come from the metadata store the workers count in."""

from __future__ import annotations

import time

import httpx

from tests.api.test_metrics import Samples, parse, promtool_check, value
from tests.multinode.images import push, random_image
from tests.multinode.stack import PROJECT, ProductionStack
from tests.support.tokenflow import TokenFlow

FAILED_LIFECYCLE = {"kind": "lifecycle", "result": "failed"}
RUNS = "cargohold_job_runs_total"


def _scrape(stack: ProductionStack, url: str) -> str:
    response = httpx.get(f"{url}/metrics", auth=stack.admin.auth, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def test_a_job_a_worker_ran_counts_in_every_nodes_metrics(stack: ProductionStack) -> None:
    repository = f"{PROJECT}/worker-metrics"
    with httpx.Client(base_url=stack.url, auth=TokenFlow(stack.developer), timeout=60) as client:
        push(client, repository, "v1", random_image("worker-metrics"))
    nodes = [node.url for node in stack.nodes]
    texts = {url: _scrape(stack, url) for url in nodes}
    # Every kind is shown before any of it ran (a rate over it is defined from the start).
    assert all(f'{RUNS}{{kind="lifecycle",result="failed"}}' in text for text in texts.values())
    before: dict[str, Samples] = {url: parse(text) for url, text in texts.items()}

    with stack.admin_client(stack.url) as admin:
        # No lifecycle policy on the repository: the run fails.
        job = admin.post(
            "/api/v1/jobs", json={"kind": "lifecycle", "args": {"repository": repository}}
        )
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        deadline = time.monotonic() + 60
        while (state := admin.get(f"/api/v1/jobs/{job_id}").json()["state"]) != "failed":
            assert state in ("queued", "running"), state
            assert time.monotonic() < deadline, "the job never ended"
            time.sleep(0.25)

    # Each node reads the counts when scraped (kept for 10 s at most).
    deadline = time.monotonic() + 30
    for url in nodes:
        while True:
            text = _scrape(stack, url)
            samples = parse(text)
            added = value(samples, RUNS, **FAILED_LIFECYCLE) - value(
                before[url], RUNS, **FAILED_LIFECYCLE
            )
            if added >= 1:
                break
            assert time.monotonic() < deadline, f"{url} never counted the worker's run"
            time.sleep(0.5)
        assert added == 1
        promtool_check(text)
