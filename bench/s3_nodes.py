"""Two cargohold nodes against one (bench/s3_run.py's `nodes`): manifest GETs and small-image
pushes on one node, then split across two sharing PostgreSQL, SeaweedFS and the token keys,
with what each costs the shared PostgreSQL per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import client
import run
import servers
import tools
from run import Row, fmt, median
from s3_stack import PgCost, S3Bench

# The projects of the two-node pushes: new repositories for each run.
NODE_PROJECTS = ("onenode", "twonodes")


# --- two nodes against one -------------------------------------------------------------------


def node_ports(b: S3Bench, nodes: int) -> list[int]:
    return [b.port("cargohold"), b.port("cargohold-b")][:nodes]


def split_wrk(b: S3Bench, script: Path, nodes: int, seconds: float) -> tools.LoadResult:
    """wrk -c64 on one node, or -c32 on each of two at once: summed rate, the worse p99."""
    ports = node_ports(b, nodes)
    connections = 64 // nodes
    if nodes == 1:
        return tools.run_wrk(f"http://127.0.0.1:{ports[0]}", script, seconds, connections)
    with ThreadPoolExecutor(nodes) as pool:
        futures = [
            pool.submit(tools.run_wrk, f"http://127.0.0.1:{p}", script, seconds, connections)
            for p in ports
        ]
        results = [f.result() for f in futures]
    return tools.LoadResult(
        rps=sum(r.rps for r in results),
        p50_ms=max(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
    )


def split_small_push(b: S3Bench, images: list[client.SmallImage], nodes: int) -> float:
    """The small-image push with 32 clients on one node, or 16 on each of two (every other
    image to each): wall seconds."""
    login = b.login("cargohold")
    ports = node_ports(b, nodes)
    concurrency = b.sizes.small_concurrency // nodes

    async def push(conn: client.AsyncConn, image: client.SmallImage) -> None:
        await client.push_small_image(conn, image, login)

    async def both() -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                client.run_pool(port, images[i::nodes], concurrency, push, timeout=600)
                for i, port in enumerate(ports)
            )
        )
        return time.perf_counter() - started

    loop = client.new_event_loop()
    try:
        return loop.run_until_complete(both())
    finally:
        loop.close()


def record_pg(b: S3Bench, key: str, target: str, cost: PgCost, count: int) -> None:
    per = 1000 / count
    b.record(key + "_pg_cpu", target, cost.cpu_seconds * per)
    b.record(key + "_pg_xact", target, cost.xact_commit / count)
    b.record(key + "_pg_blks", target, (cost.blks_hit + cost.blks_read) / count)
    b.record(key + "_pg_tup", target, (cost.tup_returned + cost.tup_fetched) / count)


def pg_note(b: S3Bench, key: str, target: str, unit: str) -> str:
    def m(what: str) -> str:
        return fmt(median(b.raw[f"{key}_pg_{what}"][target]))

    return (
        f"PostgreSQL: {m('cpu')} CPU s per 1,000 {unit}s, {m('xact')} commits and "
        f"{m('blks')} blocks hit or read per {unit}"
    )


def nodes_cpu(b: S3Bench) -> float:
    """CPU seconds of both cargohold nodes so far."""
    return sum(b.srv[n].cpu_seconds() for n in ("cargohold", "cargohold-b"))


def measure(
    b: S3Bench,
    key: str,
    target: str,
    since: PgCost,
    action: Callable[[], tuple[float | tools.LoadResult, int, str]],
) -> PgCost:
    """Run the timed `action` (giving the value to record, how many requests it made and what
    to log) and record the value, the nodes' CPU per request and what the requests cost
    PostgreSQL since `since`; PostgreSQL's counters after it."""
    cpu0 = nodes_cpu(b)
    value, count, said = action()
    node_cpu = nodes_cpu(b) - cpu0
    now = b.stores.pg_cost()
    b.record(key, target, value)
    b.record(key + "_node_cpu", target, node_cpu * 1000 / count)
    record_pg(b, key, target, now - since, count)
    pg = b.raw[key + "_pg_cpu"][target][-1]
    b.log(f"  {said}, PostgreSQL {pg:.3f} CPU s per 1,000")
    return now


def manifest_gets(
    b: S3Bench, r: int, target: str, nodes: int, script: Path
) -> tuple[tools.LoadResult, int, str]:
    res = split_wrk(b, script, nodes, b.sizes.load_seconds)
    run._check_load(target, "manifest GET", res)
    said = f"round {r} {target} manifest GET: {res.rps:.0f} req/s, p99 {res.p99_ms:.1f} ms"
    return res, res.requests, said


def small_pushes(
    b: S3Bench, r: int, target: str, nodes: int, images: list[client.SmallImage]
) -> tuple[float, int, str]:
    """The small-image push, the scan jobs of the pushed images drained inside the window."""
    rate = len(images) / split_small_push(b, images, nodes)
    b.settle("cargohold")
    return rate, len(images), f"round {r} {target} small push: {rate:.0f} images/s"


def wl_nodes(b: S3Bench) -> None:
    """Manifest GETs and small-image pushes on one node, then split across two nodes sharing
    PostgreSQL and SeaweedFS; PostgreSQL's CPU and counters per request for each."""
    s, stores = b.sizes, b.stores
    b.ensure_small_images("cargohold")
    b.srv["cargohold-b"] = servers.start_cargohold(
        b.scratch, b.workers, label="cargohold-b", extra_env=stores.cargohold_env()
    )
    b.log(f"  started cargohold-b on {b.srv['cargohold-b'].base}")
    targets = {"one node": 1, "two nodes": 2}
    try:
        script = run.manifest_script(b, "cargohold")
        split_wrk(b, script, 2, s.warmup_seconds)  # warms both nodes
        last = stores.pg_cost()
        for r, order in run.target_orders(b, list(targets)):
            for target in order:
                nodes = targets[target]
                # The wrk script (its tokens) and the images are made outside the window.
                script = run.manifest_script(b, "cargohold")
                get = partial(manifest_gets, b, r, target, nodes, script)
                last = measure(b, "nodes_manifest_get", target, last, get)
                images = b.small_set(r, NODE_PROJECTS[nodes - 1], seed=f"{target}-")
                push = partial(small_pushes, b, r, target, nodes, images)
                last = measure(b, "nodes_small_push", target, last, push)
    finally:
        b.stop_servers("cargohold-b")
    get_what = f"manifest GET by tag (wrk, 64 connections, {s.small_images} tags)"
    push_what = f"push {s.small_images} small images, {s.small_concurrency} clients"
    for key, what, unit in (
        ("nodes_manifest_get", get_what, "request"),
        ("nodes_small_push", push_what, "image"),
    ):
        for target in targets:
            values = b.raw[key][target]
            value = median([v.rps if isinstance(v, tools.LoadResult) else v for v in values])
            base = median(
                [v.rps if isinstance(v, tools.LoadResult) else v for v in b.raw[key]["one node"]]
            )
            node_cpu = median(b.raw[key + "_node_cpu"][target])
            b.rows.append(
                Row(
                    f"{what}: {target}",
                    "req/s" if unit == "request" else "images/s",
                    value,
                    "one node",
                    base,
                    note=f"cargohold CPU {fmt(node_cpu)} ms per {unit}; "
                    + pg_note(b, key, target, unit),
                )
            )
