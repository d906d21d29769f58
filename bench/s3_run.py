"""cargohold vs CNCF distribution on one object store (SeaweedFS), and two cargohold nodes
against one on a shared PostgreSQL.

Usage: PYTHONPATH=src .venv/bin/python bench/s3_run.py [--quick] [--only NAME,...] [--out FILE]

SeaweedFS and PostgreSQL are started by the tests' support code; cargohold runs on both
(PostgreSQL metadata, blobs in S3), distribution with its own S3 driver on the same SeaweedFS
(its own bucket). The workloads of bench/run.py (push, small-image push, manifest GET) run
unchanged against that pair; the pull and the two-node rows are here. See bench/README.md.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests.support

import access_setup  # noqa: E402
import client  # noqa: E402
import procs  # noqa: E402
import run  # noqa: E402
import servers  # noqa: E402
import tools  # noqa: E402
from run import GIB, MIB, Row, fmt, median, ratio_ok  # noqa: E402
from s3_nodes import NODE_PROJECTS, wl_nodes  # noqa: E402
from s3_stack import S3Bench, Stores  # noqa: E402

WORKLOADS = ("push", "pull", "small_push", "small_push_patch", "manifest_get", "nodes")

S3_FULL = run.Sizes(
    big_mib=128,
    chunk_mib=16,
    push_reps=2,
    pull_runs=5,
    small_images=600,
    small_repos=300,
    small_concurrency=32,
    tags=0,
    concurrent_pushes=0,
    concurrent_mib=0,
    load_seconds=8,
    warmup_seconds=2,
    tags_seconds=0,
    rounds=2,
)
S3_QUICK = run.Sizes(
    big_mib=32,
    chunk_mib=8,
    push_reps=1,
    pull_runs=2,
    small_images=200,
    small_repos=100,
    small_concurrency=32,
    tags=0,
    concurrent_pushes=0,
    concurrent_mib=0,
    load_seconds=3,
    warmup_seconds=1,
    tags_seconds=0,
    rounds=1,
)


# --- pushes: against each other and against the store's own rate ----------------------------


def wl_push(b: S3Bench) -> None:
    """bench/run.py's push (monolithic with curl -T and sendfile, chunked) on both, then the
    same file PUT straight into SeaweedFS with `curl -T` to a presigned URL: the ceiling."""
    run.wl_push(b)
    s = b.sizes
    path = b.big_file()
    size = path.stat().st_size
    for r in range(s.rounds):
        for i in range(s.push_reps):
            run.restamp(path, f"ceiling-{r}-{i}")
            url = b.stores.presigned_put_url(f"ceiling/{r}-{i}")
            os.sync()
            rate = size / MIB / tools.curl_put(url, path)
            b.record("push_monolithic", "SeaweedFS presigned PUT", rate)
            b.log(f"  round {r} SeaweedFS presigned PUT (curl -T): {rate:.0f} MiB/s")
    ceiling = median(b.raw["push_monolithic"]["SeaweedFS presigned PUT"])
    for name in ("cargohold", "distribution"):
        b.rows.append(
            Row(
                f"blob push {s.big_mib} MiB monolithic (curl -T): {name} vs the store itself",
                "MiB/s",
                median(b.raw["push_monolithic"][name]),
                "SeaweedFS presigned PUT",
                ceiling,
            )
        )


def projects(sizes: run.Sizes) -> list[str]:
    """The bench's projects, plus those of the two-node pushes (new repositories each run)."""
    rounds = range(sizes.rounds)
    return run.bench_projects(sizes) + [f"{p}{r}" for p in NODE_PROJECTS for r in rounds]


# --- pull: streamed and redirected -----------------------------------------------------------


def wl_pull(b: S3Bench) -> None:
    """`curl` GETs of one big blob: from cargohold streamed and redirected (a second node with
    `s3_redirect = true`), from distribution redirected (its default) and streamed (a second
    distribution with `redirect: disable: true`), and straight from SeaweedFS with a presigned
    URL (the object store's own rate: the ceiling) and with boto3."""
    s, stores = b.sizes, b.stores
    path = b.scratch / "pull.bin"
    shutil.copyfile(b.big_file(), path)
    digest = run.restamp(path, "pull")
    size = path.stat().st_size
    for name in ("cargohold", "distribution"):
        auth = b.auth(name, client.repo_scope("big/pull", "pull,push"))
        client.push_monolithic_sendfile(b.port(name), "big/pull", path, digest, auth)
    b.srv["cargohold redirect"] = servers.start_cargohold(
        b.scratch, b.workers, label="cargohold-redirect", extra_env=stores.cargohold_env(True)
    )
    b.srv["distribution streamed"] = servers.start_distribution(
        b.scratch,
        htpasswd=b.htpasswd,
        label="distribution-streamed",
        storage=stores.distribution_storage(redirect=False),
    )
    b.logins["cargohold redirect"] = b.login("cargohold")
    b.logins["distribution streamed"] = b.login("distribution")
    blob = f"/v2/big/pull/blobs/{digest}"
    presigned = stores.presigned_blob_url(digest)
    # target: (server or None for the store itself, redirected?)
    targets: dict[str, tuple[str | None, bool]] = {
        "cargohold streamed": ("cargohold", False),
        "cargohold redirect": ("cargohold redirect", True),
        "distribution streamed": ("distribution streamed", False),
        "distribution redirect": ("distribution", True),
        "SeaweedFS presigned GET": (None, False),
    }

    def get(target: str) -> tuple[int, float]:
        name, redirected = targets[target]
        if name is None:
            return tools.curl_get(presigned)
        auth = b.auth(name, client.repo_scope("big/pull"))
        return tools.curl_get(b.srv[name].base + blob, headers=auth, follow=redirected)

    try:
        for target, (name, redirected) in targets.items():  # warm-up; checks size and redirect
            if name is not None and redirected:
                with client.SyncConn("127.0.0.1", b.port(name)) as conn:
                    auth = b.auth(name, client.repo_scope("big/pull"))
                    answer = conn.request("GET", blob, auth)
                if answer.status != 307:
                    raise RuntimeError(f"{target}: GET answered {answer.status}, not 307")
            got, _ = get(target)
            if got != size:
                raise RuntimeError(f"{target} sent {got} bytes, expected {size}")
        for r, order in run.target_orders(b, list(targets), runs=s.pull_runs):
            for target in order:
                name = targets[target][0]
                server = b.srv[name] if name else None
                cpu0 = server.cpu_seconds() if server else 0.0
                sw0 = stores.seaweed_cpu_seconds()
                got, seconds = get(target)
                b.record("pull_mibs", target, got / MIB / seconds)
                if server is not None:
                    b.record("pull_cpu", target, (server.cpu_seconds() - cpu0) / (got / GIB))
                b.record(
                    "pull_store_cpu", target, (stores.seaweed_cpu_seconds() - sw0) / (got / GIB)
                )
            got, seconds = stores.boto3_get_seconds(digest)
            b.record("pull_mibs", "boto3 get_object", got / MIB / seconds)
            latest = {t: v[-1] for t, v in b.raw["pull_mibs"].items()}
            b.log(f"  run {r}: " + ", ".join(f"{t} {v:.0f}" for t, v in latest.items()) + " MiB/s")
    finally:
        b.stop_servers("cargohold redirect", "distribution streamed")
    rate = {t: median(v) for t, v in b.raw["pull_mibs"].items()}
    what = f"blob pull {s.big_mib} MiB (curl)"
    ceiling = "SeaweedFS presigned GET"
    for target, ref, goal in (
        ("cargohold redirect", ceiling, 0.9),
        ("distribution redirect", ceiling, None),
        ("cargohold streamed", ceiling, None),
        ("cargohold redirect", "distribution redirect", None),
        ("cargohold streamed", "distribution streamed", None),
        ("boto3 get_object", ceiling, None),
    ):
        cpu = statistics.fmean(b.raw["pull_cpu"][target]) if target in b.raw["pull_cpu"] else None
        store_cpu = statistics.fmean(b.raw["pull_store_cpu"].get(target, [float("nan")]))
        note = (f"server CPU {fmt(cpu)} s/GiB; " if cpu is not None else "") + (
            f"SeaweedFS CPU {fmt(store_cpu)} s/GiB" if target in b.raw["pull_store_cpu"] else ""
        )
        b.rows.append(
            Row(
                f"{what}: {target}",
                "MiB/s",
                rate[target],
                ref,
                rate[ref],
                goal=f">= {goal:g}x" if goal else "",
                met=ratio_ok(rate[target], rate[ref], goal) if goal else None,
                note=note.rstrip("; "),
            )
        )


def memory_lines(memory: dict[str, list[float]], stores: Stores) -> list[str]:
    """Peak RSS of every server the run started (sum of VmHWM over its processes, as bench/
    run.py reports it), SeaweedFS's, and PostgreSQL's (VmHWM counts its shared buffers once per
    backend: its Pss, now, splits them)."""
    out = ["| server | peak RSS, MiB (sum of VmHWM) | per process |", "|---|---:|---|"]
    for name, per in memory.items():
        out.append(f"| {name} | {sum(per):.0f} | {' + '.join(f'{m:.0f}' for m in per)} |")
    out.append(
        f"| SeaweedFS (`weed server -s3`, one process) | {stores.seaweed_peak_rss_mib():.0f} | |"
    )
    hwm, pss = stores.postgres_memory_mib()
    out.append(f"| PostgreSQL | {hwm:.0f} | Pss of all its processes at the end: {pss:.0f} MiB |")
    return out


def wl_manifest_get(b: S3Bench) -> None:
    # The goal for the object-store stack: 2x distribution (no p99 goal).
    run.wl_manifest_get(b, goals=(2.0, None))


WORKLOAD_FUNCS: dict[str, Callable[[S3Bench], None]] = {
    "push": wl_push,
    "pull": wl_pull,
    "small_push": run.wl_small_push,
    "small_push_patch": run.wl_small_push_patch,
    "manifest_get": wl_manifest_get,
    "nodes": wl_nodes,
}


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    session = run.start_session(
        __doc__ or "",
        WORKLOADS,
        HERE / "results" / "s3-latest.md",
        ("curl", "wrk", servers.DISTRIBUTION_BIN),
        "cargohold-s3bench-",
        argv,
    )
    args, scratch, log = session.args, session.scratch, session.log
    sizes = run.with_rounds(S3_QUICK if args.quick else S3_FULL, args.rounds)
    stores: Stores | None = None
    failures: list[str] = []
    memory: list[str] = []
    bench: S3Bench | None = None
    try:
        log(f"scratch folder {scratch}")
        stores = Stores(scratch)
        log(f"SeaweedFS S3 on {stores.seaweed.endpoint}, PostgreSQL on {stores.database_url}")
        htpasswd = scratch / "htpasswd"
        distribution_login = access_setup.write_htpasswd(htpasswd)
        srv = {
            "cargohold": servers.start_cargohold(
                scratch, args.workers, extra_env=stores.cargohold_env()
            ),
            "distribution": servers.start_distribution(
                scratch, htpasswd=htpasswd, storage=stores.distribution_storage(redirect=True)
            ),
        }
        log(", ".join(f"{n} on {s.base} (pid {s.pid})" for n, s in srv.items()))
        accounts = access_setup.setup_cargohold(
            srv["cargohold"].base, projects(sizes), run.PUBLIC_PROJECTS
        )
        bench = S3Bench(
            sizes,
            scratch,
            srv,
            log,
            logins={"cargohold": accounts.robot, "distribution": distribution_login},
            admin_auth=client.basic_header(accounts.admin_token.name, accounts.admin_token.secret),
            htpasswd=htpasswd,
            workers=args.workers,
        )
        bench.stores = stores
        bench.memory = {}
        failures = run.run_workloads(bench, session, WORKLOAD_FUNCS, "profile-s3-")
        bench.stop_servers("cargohold", "distribution")
        memory = memory_lines(bench.memory, stores)
    finally:
        procs.stop_all()
        if stores is not None:
            stores.stop()
        session.keep_or_clean()

    assert bench is not None
    about = [
        f"- machine: {session.notes}; load average at the end: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"- cargohold: {args.workers} granian workers per node, PostgreSQL metadata, blobs in "
        "SeaweedFS (S3, path style, prefix `cargohold`), access control on, access log off, "
        "scan on push on (as shipped); distribution: its S3 driver on the same SeaweedFS (own "
        "bucket), redirect on (its default) unless a row says streamed, htpasswd",
        "- ratio = cargohold / reference (higher is better for rates)",
    ]
    return run.write_report(
        session,
        bench,
        failures,
        "cargohold on SeaweedFS",
        "PYTHONPATH=src .venv/bin/python bench/s3_run.py",
        about,
        sections=["## Memory", "", *memory, ""],
    )


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        run.cleanup()
