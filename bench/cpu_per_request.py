"""Server CPU per request: a measure that stays readable on a shared machine.

Usage: .venv/bin/python bench/cpu_per_request.py [--log off,shipped] [--only NAME,...]
           [--seconds 5] [--repeat 3] [--src DIR] [--json FILE]

Requests per second fall when other work shares the cores; the CPU time the server spends per
request moves much less. This starts cargohold alone (2 workers, SQLite, scan on push off so
that background scans do not land in the push figures), drives one workload at a time with the
bench's clients (wrk -c64 for manifest GETs, ab -i -k -c64 for blob HEADs, 32 Python clients
pushing small images) and divides the server's CPU time (utime + stime over its whole
process tree, from /proc) by the requests or images served. Each workload runs `--repeat`
times; the median is printed. `--log` chooses the access log: off, or as shipped (on, to a
file). `--src DIR` runs the cargohold sources in DIR (e.g. `git archive main src | tar -x -C
DIR`) with this venv's interpreter, for before/after comparisons.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import client
import procs
import tools

WORKLOADS = ("manifest_get", "blob_head", "small_push")


def start(scratch: Path, shipped: bool, src: Path | None) -> procs.ServerProc:
    port = procs.free_port()
    data = scratch / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for key in ("CARGOHOLD_ACCESS_LOG", "CARGOHOLD_LOG_LEVEL", "CARGOHOLD_LOG_FORMAT"):
        env.pop(key, None)
    env["CARGOHOLD_SCAN_ON_PUSH"] = "false"
    # Loopback only: the workloads do not sign in yet (the access issue's benchmark rows will).
    env["CARGOHOLD_AUTH"] = "off"
    if not shipped:
        env["CARGOHOLD_ACCESS_LOG"] = "false"
        env["CARGOHOLD_LOG_LEVEL"] = "warning"
    if src is not None:
        env["PYTHONPATH"] = str(src)
    argv = [sys.executable, "-c", "from cargohold.cli.main import app; app()", "serve"]
    argv += ["--addr", f"127.0.0.1:{port}", "--data-dir", str(data), "--workers", "2"]
    log = scratch / ("shipped.log" if shipped else "off.log")
    server = procs.ServerProc("cargohold", argv, port, log, env=env)
    server.wait_ready()
    return server


def push(port: int, images: list[client.SmallImage]) -> None:
    loop = client.new_event_loop()
    try:
        loop.run_until_complete(
            client.run_pool(port, images, 32, client.push_small_image, timeout=600)
        )
    finally:
        loop.close()


def images(prefix: str, count: int) -> list[client.SmallImage]:
    return [
        client.make_small_image(f"{prefix}/app-{i % 20:04d}", f"v{i}", f"{prefix}-{i}")
        for i in range(count)
    ]


class Workloads:
    """One server with 200 small images in it, and each workload once: its request count."""

    def __init__(self, server: procs.ServerProc, scratch: Path, base: list[client.SmallImage]):
        self.server = server
        self.script = tools.write_wrk_script(
            scratch / "manifests.lua", [f"/v2/{im.repo}/manifests/{im.tag}" for im in base]
        )
        self.head_url = f"{server.base}/v2/{base[0].repo}/blobs/{base[0].layer_digest}"

    def manifest_get(self, seconds: float) -> int:
        return tools.run_wrk(self.server.base, self.script, seconds, 64).requests

    def blob_head(self, seconds: float) -> int:
        return tools.run_ab_head(self.head_url, seconds, 64).requests

    def small_push(self, batch: list[client.SmallImage]) -> int:
        push(self.server.port, batch)
        return len(batch)


def cpu_per_unit(server: procs.ServerProc, run: Callable[[], int]) -> float:
    """Server CPU microseconds per request (or image) of one call of `run`."""
    time.sleep(0.3)  # let the previous round's background work (pull times, log) finish
    before = server.cpu_seconds()
    count = run()
    time.sleep(0.3)
    return (server.cpu_seconds() - before) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", default="off,shipped")
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--src", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="cpu-per-request-") as tmp:
        scratch = Path(tmp)
        base = images("base", 200)
        for mode in args.log.split(","):
            server = start(scratch / mode, mode == "shipped", args.src)
            try:
                push(server.port, base)
                loads = Workloads(server, scratch / mode, base)
                for name in args.only.split(","):
                    per: list[float] = []
                    for r in range(args.repeat):
                        if name == "small_push":
                            batch = images(f"{mode}{r}", args.images)
                            per.append(cpu_per_unit(server, partial(loads.small_push, batch)))
                        else:
                            run = partial(getattr(loads, name), args.seconds)
                            run()  # warm-up
                            per.append(cpu_per_unit(server, run))
                    results.setdefault(name, {})[mode] = per
                    unit = "us/image" if name == "small_push" else "us/request"
                    print(
                        f"{name:14s} log {mode:8s} {statistics.median(per):8.1f} {unit}"
                        f"  runs {[round(x, 1) for x in per]}",
                        flush=True,
                    )
            finally:
                server.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
