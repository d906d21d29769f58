"""How much a garbage collection slows the pushes and pulls running at the same time.

A cargohold server (`cargohold serve`, SQLite, filesystem blobs, 2 workers) starts on a data
directory holding BLOBS blobs and MANIFESTS manifests of which a quarter of the blobs are
unreferenced and past the grace period (the same population as bench/storage_life.py). The
same client load (PUSHERS connections pushing small new images, PULLERS connections pulling a
manifest and its layer from a set of pre-pushed images) runs three times:

1. before: for WINDOW seconds, no GC;
2. during: while `POST /api/v1/gc` sweeps the garbage (until it reports done);
3. after: for WINDOW seconds, no GC (controls for drift as the registry grows).

It prints operations per second and p99 latency of each phase, and the ratios of "during"
against the mean of "before" and "after". Timings are never pass/fail: this is a benchmark.

Usage: .venv/bin/python bench/gc_under_load.py [--blobs 100000] [--manifests 20000]
       [--pushers 4] [--pullers 4] [--window 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import client
import procs
import servers
from cargohold.meta.db import make_engine, migrate
from cargohold.meta.store import MetadataStore
from cargohold.storage.filesystem import FilesystemBlobStore
from storage_life import populate_gc

PULL_IMAGES = 200
BACKDATE_SECONDS = 7200  # older than the default gc_grace_seconds (3600)


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    pushes: list[float] = field(default_factory=list)  # latency of each whole image push
    pulls: list[float] = field(default_factory=list)  # latency of manifest GET + layer GET
    errors: int = 0

    def row(self) -> dict[str, float]:
        return {
            "seconds": round(self.seconds, 2),
            "pushes_per_s": round(len(self.pushes) / self.seconds, 1),
            "pulls_per_s": round(len(self.pulls) / self.seconds, 1),
            "push_p99_ms": round(_p99(self.pushes) * 1000, 1),
            "pull_p99_ms": round(_p99(self.pulls) * 1000, 1),
            "errors": self.errors,
        }


def _p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0] if samples else 0.0
    return statistics.quantiles(samples, n=100)[98]


def populate(data: Path, blobs: int, manifests: int) -> None:
    data.mkdir(parents=True, exist_ok=True)
    database = data / "cargohold.db"
    engine = make_engine(f"sqlite:///{database.resolve()}")
    migrate(engine)
    populate_gc(MetadataStore(engine), FilesystemBlobStore(data / "blobs"), blobs, manifests)
    engine.dispose()
    with sqlite3.connect(database) as db:  # past the grace period, as a week-old registry
        db.execute("UPDATE blobs SET created_at = created_at - ?", (BACKDATE_SECONDS,))
        db.execute("UPDATE repository_blobs SET linked_at = linked_at - ?", (BACKDATE_SECONDS,))


async def _load(port: int, phase: Phase, stop: threading.Event, images: list) -> None:  # type: ignore[type-arg]
    counter = iter(range(10**9))

    async def pusher(worker: int) -> None:
        conn = client.AsyncConn("127.0.0.1", port)
        try:
            while not stop.is_set():
                n = next(counter)
                image = client.make_small_image("load/push", f"w{worker}-{n}", f"push-{worker}-{n}")
                started = time.perf_counter()
                try:
                    await client.push_small_image(conn, image)
                except Exception:
                    phase.errors += 1
                    await conn.close()
                    continue
                phase.pushes.append(time.perf_counter() - started)
        finally:
            await conn.close()

    async def puller(worker: int) -> None:
        conn = client.AsyncConn("127.0.0.1", port)
        n = worker
        try:
            while not stop.is_set():
                image = images[n % len(images)]
                n += 7
                started = time.perf_counter()
                try:
                    got = await conn.request(
                        "GET",
                        f"/v2/{image.repo}/manifests/{image.tag}",
                        {"Accept": client.OCI_MANIFEST},
                    )
                    client.expect(got, 200, "manifest GET")
                    blob = await conn.request("GET", f"/v2/{image.repo}/blobs/{image.layer_digest}")
                    client.expect(blob, 200, "blob GET")
                except Exception:
                    phase.errors += 1
                    await conn.close()
                    continue
                phase.pulls.append(time.perf_counter() - started)
        finally:
            await conn.close()

    await asyncio.gather(
        *(pusher(i) for i in range(ARGS.pushers)), *(puller(i) for i in range(ARGS.pullers))
    )


def run_phase(port: int, phase: Phase, images: list, until: threading.Event | None) -> None:  # type: ignore[type-arg]
    """Run the load until `until` is set (or for --window seconds when it is None)."""
    stop = threading.Event()
    loop = client.new_event_loop()
    started = time.perf_counter()
    timer = None
    if until is None:
        timer = threading.Timer(ARGS.window, stop.set)
        timer.start()
    else:
        threading.Thread(target=lambda: (until.wait(), stop.set()), daemon=True).start()
    try:
        loop.run_until_complete(_load(port, phase, stop, images))
    finally:
        loop.close()
        if timer is not None:
            timer.cancel()
    phase.seconds = time.perf_counter() - started


def collect_garbage(base: str, report: dict, done: threading.Event) -> None:  # type: ignore[type-arg]
    started = time.perf_counter()
    try:
        request = urllib.request.Request(f"{base}/api/v1/gc", method="POST")
        with urllib.request.urlopen(request, timeout=3600) as response:
            for line in response:
                event = json.loads(line)
                if event["event"] == "done":
                    report.update(event["report"])
    finally:
        report["wall_s"] = round(time.perf_counter() - started, 2)
        done.set()


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="cargohold-gc-load-"))
    try:
        started = time.perf_counter()
        populate(scratch / "cargohold-data", ARGS.blobs, ARGS.manifests)
        print(f"populated in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        # Auth off, as this measure was made before access control: its clients do not sign in.
        server = servers.start_cargohold(scratch, auth=False)
        try:
            images = [
                client.make_small_image("load/pull", f"p{n}", f"pull-{n}")
                for n in range(PULL_IMAGES)
            ]
            loop = client.new_event_loop()
            loop.run_until_complete(
                client.run_pool(server.port, images, 8, client.push_small_image, 300)
            )
            loop.close()
            before, during, after = Phase("before"), Phase("during GC"), Phase("after")
            run_phase(server.port, before, images, None)
            done = threading.Event()
            gc_report: dict = {}  # type: ignore[type-arg]
            threading.Thread(
                target=collect_garbage, args=(server.base, gc_report, done), daemon=True
            ).start()
            run_phase(server.port, during, images, done)
            run_phase(server.port, after, images, None)
        finally:
            server.stop()
        rows = {phase.name: phase.row() for phase in (before, during, after)}
        base = {
            key: (rows["before"][key] + rows["after"][key]) / 2
            for key in ("pushes_per_s", "pulls_per_s", "push_p99_ms", "pull_p99_ms")
        }
        ratios = {key: round(rows["during GC"][key] / base[key], 2) for key in base}
        print(json.dumps({"gc": gc_report, "phases": rows, "during_over_without": ratios}))
    finally:
        procs.stop_all()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blobs", type=int, default=100_000)
    parser.add_argument("--manifests", type=int, default=20_000)
    parser.add_argument("--pushers", type=int, default=4)
    parser.add_argument("--pullers", type=int, default=4)
    parser.add_argument("--window", type=float, default=10.0)
    ARGS = parser.parse_args()
    main()
