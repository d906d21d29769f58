"""/metrics on a real server: what pushes, pulls, a GC, refusals and failures change, checked
with promtool; who may read it; one directory of multiprocess files per server, summed over
its workers, a dead worker's counts kept and its live gauge dropped."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.support.jsonlog import json_log
from tests.support.oci import digest_of, push_blob, push_image
from tests.support.processes import children_by_parent
from tests.support.server import CargoholdServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
MANIFESTS = "/v2/{name:path}/manifests/{reference}"
BLOB_UPLOADS = "/v2/{name:path}/blobs/uploads/"
PROJECT = "metered"


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(server: CargoholdServer) -> str:
    response = httpx.get(f"{server.url}/metrics", auth=server.admin_auth, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def eventually(server: CargoholdServer, holds: Callable[[Samples], bool]) -> Samples:
    """Scrape until `holds` (other workers publish their counts once a second)."""
    deadline = time.monotonic() + 30
    while True:
        samples = parse(scrape(server))
        if holds(samples):
            return samples
        assert time.monotonic() < deadline, "the metrics never showed it"
        time.sleep(0.3)


def promtool_check(text: str) -> None:
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def metrics_dir(server: CargoholdServer) -> Path:
    """The directory the server's launcher logged for its processes' metric files."""
    for entry in json_log(server.log_path):
        message = str(entry.get("message", ""))
        found = re.fullmatch(r"metrics of this server's processes in (\S+)", message)
        if found:
            return Path(found.group(1))
    raise AssertionError("the server logged no metrics directory")


def workers_of(server: CargoholdServer) -> list[int]:
    assert server.process is not None
    return sorted(children_by_parent().get(server.process.pid, []))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    started = CargoholdServer(
        tmp_path_factory.mktemp("metrics") / "data",
        extra_env={"CARGOHOLD_GC_GRACE_SECONDS": "0", "CARGOHOLD_SCANNING": "false"},
    ).start()
    yield started
    started.stop()


def test_pushes_pulls_gc_and_failures_change_the_metrics(server: CargoholdServer) -> None:
    repository = f"{PROJECT}/app"
    with server.client(timeout=60) as admin:
        assert admin.post("/api/v1/projects", json={"name": PROJECT}).status_code == 201
        before = parse(scrape(server))
        digest, manifest = push_image(admin, repository, "v1")
        for _ in range(3):
            assert admin.get(f"/v2/{repository}/manifests/v1").status_code == 200
        assert admin.get(f"/v2/{repository}/manifests/nosuchtag").status_code == 404
        # An upload session left open.
        assert admin.post(f"/v2/{repository}/blobs/uploads/").status_code == 202
        layer = push_blob(admin, repository, b"a layer only garbage collection will see")
        assert layer == digest_of(b"a layer only garbage collection will see")
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        # Refused: the project is private. Unknown: a project that does not exist, which must
        # not become a label.
        assert anonymous.get(f"/v2/{repository}/manifests/v1").status_code == 401
        assert anonymous.get("/v2/nosuchproject-x1/app/manifests/v1").status_code == 401
        assert anonymous.get("/no/such/endpoint").status_code == 404
        assert anonymous.request("BREW", "/healthz").status_code == 405
    with server.client(timeout=60) as admin:
        gc = admin.post("/api/v1/gc")
        assert gc.status_code == 200
        done = json.loads(gc.text.strip().splitlines()[-1])
        assert done["event"] == "done" and done["report"]["blobs"] >= 1, done

    def delta(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    brewed = {"route": "/healthz", "method": "other", "status": "405"}

    def counted(samples: Samples) -> bool:
        # Other workers publish once a second; the stores' figures are kept for 10 s.
        pulls = [
            delta(samples, "cargohold_pulls_total", project=project, result=result)
            for project in (PROJECT, "other")
            for result in ("success", "not_found", "denied")
        ]
        return (
            sum(pulls) == 6
            and delta(samples, "cargohold_gc_runs_total", mode="run") == 1
            and delta(samples, "cargohold_http_requests_total", **brewed) == 1
            and value(samples, "cargohold_manifests") >= 1
        )

    after = eventually(server, counted)
    assert delta(after, "cargohold_pushes_total", project=PROJECT, result="success") == 1
    assert delta(after, "cargohold_pulls_total", project=PROJECT, result="not_found") == 1
    assert delta(after, "cargohold_pulls_total", project=PROJECT, result="denied") == 1
    assert delta(after, "cargohold_pulls_total", project="other", result="denied") == 1
    assert not any("nosuchproject" in str(key) for key in after)
    get = {"route": MANIFESTS, "method": "GET"}
    assert delta(after, "cargohold_http_requests_total", status="200", **get) == 3
    assert delta(after, "cargohold_http_requests_total", status="404", **get) == 1
    assert delta(after, "cargohold_http_requests_total", status="401", **get) == 2
    assert delta(after, "cargohold_http_request_duration_seconds_count", **get) == 6
    assert delta(after, "cargohold_http_request_duration_seconds_sum", **get) > 0
    # Three manifests sent in full; the pushed manifest and the pushed layer received.
    assert delta(after, "cargohold_http_sent_bytes_total", **get) >= 3 * len(manifest)
    put = {"route": MANIFESTS, "method": "PUT"}
    assert delta(after, "cargohold_http_received_bytes_total", **put) == len(manifest)
    uploads = {"route": BLOB_UPLOADS, "method": "POST"}
    assert delta(after, "cargohold_http_received_bytes_total", **uploads) >= 40
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert delta(after, "cargohold_http_requests_total", **unmatched) == 1
    assert not any("/no/such/endpoint" in str(key) or "BREW" in str(key) for key in after)
    # Garbage collection freed the layer nothing references.
    assert delta(after, "cargohold_gc_runs_total", mode="run") == 1
    assert delta(after, "cargohold_gc_freed_blobs_total") >= 1
    assert delta(after, "cargohold_gc_freed_bytes_total") >= 40
    assert value(after, "cargohold_gc_last_run_timestamp_seconds") > time.time() - 600
    # What the stores hold, read when scraped.
    assert value(after, "cargohold_store_totals_up") == 1
    assert value(after, "cargohold_manifests") >= 1
    assert value(after, "cargohold_blobs") >= 2
    assert value(after, "cargohold_stored_bytes", kind="manifest") >= len(manifest)
    assert value(after, "cargohold_upload_sessions") >= 1
    assert (value(after, "cargohold_job_queue_depth"),) == (0.0,)
    # The images were pushed and pulled by digest too.
    assert digest.startswith("sha256:")


def test_the_exposition_passes_promtool(server: CargoholdServer) -> None:
    with server.client(timeout=60) as admin:
        push_image(admin, f"{PROJECT}-lint/app", "v1")
    promtool_check(scrape(server))


def test_only_system_admins_read_the_metrics_by_default(server: CargoholdServer) -> None:
    anonymous = httpx.get(f"{server.url}/metrics", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="cargohold"'
    with server.client(timeout=60) as admin:
        name = f"reader{time.time_ns()}"
        created = admin.post("/api/v1/users", json={"name": name, "password": "a long password"})
        assert created.status_code == 201, created.text
    user = httpx.get(f"{server.url}/metrics", auth=(name, "a long password"), timeout=30)
    assert user.status_code == 403


def test_a_failing_job_counts_under_its_kind(server: CargoholdServer) -> None:
    """A lifecycle job on a repository without a policy fails; it counts as a failed run."""
    with server.client(timeout=60) as admin:
        before = parse(scrape(server))
        push_image(admin, f"{PROJECT}/nopolicy", "v1")
        job = admin.post(
            "/api/v1/jobs",
            json={"kind": "lifecycle", "args": {"repository": f"{PROJECT}/nopolicy"}},
        )
        assert job.status_code == 202, job.text

    def failed(samples: Samples) -> bool:
        labels = {"kind": "lifecycle", "result": "failed"}
        return (
            value(samples, "cargohold_job_runs_total", **labels)
            - value(before, "cargohold_job_runs_total", **labels)
            == 1
        )

    eventually(server, failed)


def test_anyone_reads_the_metrics_when_the_setting_says_so(tmp_path: Path) -> None:
    open_server = CargoholdServer(
        tmp_path / "data", workers=1, extra_env={"CARGOHOLD_METRICS_ACCESS": "anonymous"}
    ).start()
    try:
        response = httpx.get(f"{open_server.url}/metrics", timeout=30)
        assert response.status_code == 200
        assert "cargohold_http_requests_total" in response.text
    finally:
        open_server.stop()


def test_metrics_off_serves_no_metrics(tmp_path: Path) -> None:
    off = CargoholdServer(
        tmp_path / "data", workers=1, extra_env={"CARGOHOLD_METRICS": "false"}
    ).start()
    try:
        assert httpx.get(f"{off.url}/metrics", auth=off.admin_auth, timeout=30).status_code == 404
        assert "metrics of this server" not in off.log_path.read_text()
    finally:
        off.stop()


def _counts_by_pid(directory: Path, route: str) -> dict[int, float]:
    """Each process's own count of GET `route` answered 200, read from its counter file."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, count, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = json.loads(key)
            if sample == "cargohold_http_requests_total" and labels == {
                "route": route,
                "method": "GET",
                "status": "200",
            }:
                counts[pid] = count
    return counts


def test_each_server_has_its_own_directory_and_its_workers_counts_are_summed(
    server: CargoholdServer, tmp_path: Path
) -> None:
    other = CargoholdServer(tmp_path / "data", workers=2).start()
    try:
        mine, theirs = metrics_dir(server), metrics_dir(other)
        assert mine != theirs and mine.is_dir() and theirs.is_dir()
        before = value(parse(scrape(server)), "cargohold_http_requests_total", route="/healthz")
        before_other = parse(scrape(other))
        # A new connection each: the kernel hands them to both workers.
        requests = 60
        for _ in range(requests):
            response = httpx.get(f"{server.url}/healthz", headers={"connection": "close"})
            assert response.status_code == 200

        def summed(samples: Samples) -> bool:
            total = value(
                samples,
                "cargohold_http_requests_total",
                route="/healthz",
                method="GET",
                status="200",
            )
            return total - before == requests

        eventually(server, summed)
        by_pid = _counts_by_pid(mine, "/healthz")
        assert len([count for count in by_pid.values() if count > 0]) == 2, by_pid
        assert set(by_pid) <= set(workers_of(server))
        # The other server counted none of them, and has none of this server's files.
        after_other = parse(scrape(other))
        healthz = {"route": "/healthz", "method": "GET", "status": "200"}
        assert value(after_other, "cargohold_http_requests_total", **healthz) == value(
            before_other, "cargohold_http_requests_total", **healthz
        )
        assert not set(by_pid) & {int(p.stem.rsplit("_", 1)[1]) for p in theirs.glob("*.db")}
    finally:
        other.stop()
    assert not theirs.exists(), "a stopped server leaves its metrics directory behind"
    assert mine.is_dir()


def test_a_dead_workers_counts_stay_and_its_live_gauge_goes(server: CargoholdServer) -> None:
    directory = metrics_dir(server)
    for _ in range(20):
        httpx.get(f"{server.url}/healthz", headers={"connection": "close"})
    time.sleep(1.5)  # every worker published
    counts = _counts_by_pid(directory, "/healthz")
    victim = max(counts, key=lambda pid: counts[pid])
    total = sum(counts.values())
    assert (directory / f"gauge_livesum_{victim}.db").exists()
    os.kill(victim, signal.SIGKILL)
    # granian starts another worker; the dead one's live gauge goes at the next scrape.
    deadline = time.monotonic() + 30
    while victim in workers_of(server) or len(workers_of(server)) < 2:
        assert time.monotonic() < deadline, "no worker took the dead one's place"
        time.sleep(0.2)
    server.wait_ready()
    samples = parse(scrape(server))
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    assert value(samples, "cargohold_http_requests_total", **healthz) >= total
    assert not (directory / f"gauge_livesum_{victim}.db").exists()
    assert (directory / f"counter_{victim}.db").exists()


def test_an_abandoned_directory_is_removed_by_the_next_server(tmp_path: Path) -> None:
    """A server killed outright cannot clean up; the next one on the machine does."""
    killed = CargoholdServer(tmp_path / "killed", workers=1).start()
    abandoned = metrics_dir(killed)
    killed.kill9()
    assert abandoned.is_dir()
    nxt = CargoholdServer(tmp_path / "next", workers=1).start()
    try:
        assert not abandoned.exists()
    finally:
        nxt.stop()
    shutil.rmtree(tmp_path, ignore_errors=True)
