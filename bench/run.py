"""cargohold vs CNCF distribution (docker-registry 2.8), side by side on 127.0.0.1.

Usage: .venv/bin/python bench/run.py [--quick] [--only NAME,...] [--out FILE]

Both registries run at the same time, each with its data in a scratch folder; every
workload drives both with the same client, alternating which goes first. The table of
ratios (cargohold / distribution, or / nginx for the pull ceiling) is printed and written
to bench/results/latest.md. See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import access_setup
import client
import procs
import servers
import signature_bench
import tools
from access_setup import ANONYMOUS, ANONYMOUS_TOKEN, Login

MIB = 1 << 20
GIB = 1 << 30
HERE = Path(__file__).resolve().parent
SERVERS = ("cargohold", "distribution")
_CLEANUP: list[Path] = []
WORKLOADS = (
    "push",
    "pull",
    "small_push",
    "small_push_patch",
    "small_push_auth",
    "manifest_get",
    "blob_head",
    "manifest_get_anonymous",
    "tags_list",
    "catalog",
    "concurrent_push",
    "push_latency",
    "manifest_get_shipped",
    "blob_head_shipped",
    "manifest_get_signed",
)


@dataclass(frozen=True)
class Sizes:
    big_mib: int
    chunk_mib: int
    push_reps: int  # per round and server
    pull_runs: int  # per target, alternating
    small_images: int
    small_repos: int
    small_concurrency: int
    tags: int
    concurrent_pushes: int
    concurrent_mib: int
    load_seconds: float
    warmup_seconds: float
    tags_seconds: float
    rounds: int


FULL = Sizes(
    big_mib=256,
    chunk_mib=16,
    push_reps=3,
    pull_runs=7,
    small_images=2000,
    small_repos=1000,
    small_concurrency=32,
    tags=10_000,
    concurrent_pushes=16,
    concurrent_mib=32,
    load_seconds=10,
    warmup_seconds=2,
    tags_seconds=5,
    rounds=2,
)
QUICK = Sizes(
    big_mib=64,
    chunk_mib=8,
    push_reps=1,
    pull_runs=2,
    small_images=300,
    small_repos=150,
    small_concurrency=32,
    tags=1000,
    concurrent_pushes=16,
    concurrent_mib=4,
    load_seconds=3,
    warmup_seconds=1,
    tags_seconds=1.5,
    rounds=1,
)


@dataclass
class Row:
    workload: str
    metric: str
    cargo: float | None
    ref_name: str
    ref: float | None
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""


def bench_projects(sizes: Sizes) -> list[str]:
    """Every project the workloads push to: the robot gets pull and push on each."""
    rounds = range(sizes.rounds)
    return [
        "big",
        "tags",
        "conc",
        *(f"small{r}" for r in rounds),
        *(f"small{r + 100}" for r in rounds),
        *(f"authpush{r}" for r in rounds),
    ]


# The round-0 small images (manifest GET, blob HEAD, catalog) are in a public project, so
# the same manifests are read signed in and anonymously. A registry token's check never reads
# the project's visibility (its access claim is all it allows): signed-in reads cost the same
# in a private project.
PUBLIC_PROJECTS = ("small0",)
# small_push_auth: the slices each round's images are pushed in, the two servers of a pair
# taking turns.
SMALL_PUSH_SLICES = 4


@dataclass
class Bench:
    sizes: Sizes
    scratch: Path
    srv: dict[str, procs.ServerProc]
    log: Callable[[str], None]
    # How each server's clients sign in: cargohold through the token flow with a robot,
    # distribution with htpasswd Basic credentials; extra servers of one workload anonymous.
    logins: dict[str, Login] = field(default_factory=dict)
    admin_auth: dict[str, str] = field(default_factory=dict)  # cargohold's /api/v1/system
    htpasswd: Path | None = None
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    small_ready: set[str] = field(default_factory=set)
    small_images: list[client.SmallImage] = field(default_factory=list)
    manifest_rps: dict[str, float] = field(default_factory=dict)
    order_flip: int = 0
    workers: int = 2
    shipped: bool = False
    _credentials: dict[tuple[str, int, Login], client.Credentials] = field(default_factory=dict)

    def use_access_logs(self, shipped: bool) -> None:
        """Restart both servers over the same data, with access logs off (the main rows) or
        as shipped (the `_shipped` rows: each server's default logging, to a file)."""
        if shipped == self.shipped:
            return
        for server in self.srv.values():
            server.stop()
        self.srv["cargohold"] = servers.start_cargohold(self.scratch, self.workers, shipped)
        self.srv["distribution"] = servers.start_distribution(self.scratch, shipped, self.htpasswd)
        self.shipped = shipped
        self.log(f"  restarted both servers with access logs {'on' if shipped else 'off'}")

    # --- helpers ---------------------------------------------------------------------------

    def orders(self) -> list[tuple[int, list[str]]]:
        """(round, server order) pairs; the first server alternates round by round and
        from one workload to the next."""
        out = []
        for r in range(self.sizes.rounds):
            order = list(SERVERS) if (r + self.order_flip) % 2 == 0 else list(SERVERS[::-1])
            out.append((r, order))
        self.order_flip += 1
        return out

    def port(self, name: str) -> int:
        return self.srv[name].port

    def login(self, name: str) -> Login:
        return self.logins.get(name, ANONYMOUS)

    def credentials(self, name: str, login: Login | None = None) -> client.Credentials:
        """The headers a synchronous client of `name` sends (its tokens kept per server
        process and login, for their lifetime)."""
        login = login or self.login(name)
        key = (name, self.port(name), login)
        if key not in self._credentials:
            self._credentials[key] = client.Credentials(self.port(name), login)
        return self._credentials[key]

    def auth(self, name: str, scope: str) -> dict[str, str]:
        return self.credentials(name).headers(scope)

    def start_extra(self, name: str) -> procs.ServerProc:
        """A server only some workloads use, next to the two main ones: `distribution-open`
        (no auth, over distribution's data) or `cargohold-authoff` (auth off, its own data:
        one data directory serves one server). Stopped by stop_extra()."""
        if name == "distribution-open":
            server = servers.start_distribution(self.scratch, label=name)
        elif name == "cargohold-authoff":
            server = servers.start_cargohold(self.scratch, self.workers, auth=False, label=name)
        else:
            raise ValueError(name)
        self.srv[name] = server
        self.log(f"  started {name} on {server.base} (pid {server.pid})")
        return server

    def stop_extra(self, *names: str) -> None:
        for name in names:
            server = self.srv.pop(name, None)
            if server is not None:
                rss = procs.peak_rss_per_process(server.pid)
                per = " + ".join(f"{m:.0f}" for m in rss)
                self.log(f"  stopping {name}: peak RSS {sum(rss):.0f} MiB ({per})")
                server.stop()

    def settle(self, name: str, quiet: bool = False) -> None:
        """Untimed: wait until cargohold's job queue is empty (scans of pushed images), so a
        scan backlog never runs into the next measurement, ours or distribution's (`quiet`:
        without a log line)."""
        if not name.startswith("cargohold"):
            return
        started = time.monotonic()
        headers = self.admin_auth if name == "cargohold" else {}
        while time.monotonic() - started < 600:
            url = f"{self.srv[name].base}/api/v1/system"
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=10) as response:
                if json.loads(response.read())["jobs"]["pending"] == 0:
                    break
            time.sleep(0.2)
        time.sleep(0.5)  # the jobs taken last are finishing
        if not quiet:
            self.log(f"  {name}: background jobs drained in {time.monotonic() - started:.1f}s")

    def big_file(self) -> Path:
        path = self.scratch / "big.bin"
        if not path.exists():
            write_random(path, self.sizes.big_mib * MIB)
        return path

    def record(self, key: str, name: str, value: Any) -> None:
        self.raw.setdefault(key, {}).setdefault(name, []).append(value)

    def ensure_small_images(self, name: str) -> None:
        """Round-0 small images (used by manifest GET, blob HEAD and catalog), untimed."""
        if name in self.small_ready:
            return
        images = self.small_set(0)
        elapsed = run_small_push(
            self.port(name), images, self.sizes.small_concurrency, self.login(name)
        )
        self.log(f"  setup: {len(images)} small images into {name} in {elapsed:.1f}s")
        self.settle(name)
        self.small_ready.add(name)

    def small_set(
        self, round_no: int, project: str = "small", seed: str = ""
    ) -> list[client.SmallImage]:
        """The small images of a round: in project `<project><round>`, their content new for
        each (round, seed)."""
        s = self.sizes
        first = round_no == 0 and project == "small" and not seed
        if first and self.small_images:
            return self.small_images
        images = [
            client.make_small_image(
                f"{project}{round_no}/app-{i % s.small_repos:04d}",
                f"v{i}",
                f"{seed}r{round_no}-{i}",
            )
            for i in range(s.small_images)
        ]
        if first:
            self.small_images = images
        return images


def write_random(path: Path, size: int) -> None:
    block = os.urandom(4 * MIB)
    with open(path, "wb") as f:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            # Vary each block so the file does not compress or deduplicate.
            f.write(written.to_bytes(8, "big") + piece[8:])
            written += len(piece)


def restamp(path: Path, stamp: str) -> str:
    """Overwrite the first 32 bytes (a unique blob each push) and return the new digest."""
    with open(path, "r+b") as f:
        f.write(stamp.encode().ljust(32, b"\0")[:32])
    return client.file_digest(path)


def with_rounds(sizes: Sizes, rounds: int) -> Sizes:
    """The sizes with `rounds` rounds of each workload (0: as they are)."""
    return replace(sizes, rounds=rounds) if rounds else sizes


def median(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def run_small_push(
    port: int,
    images: list[client.SmallImage],
    concurrency: int,
    login: Login,
    patch: bool = False,
) -> float:
    async def push(conn: client.AsyncConn, image: client.SmallImage) -> None:
        await client.push_small_image(conn, image, login, patch)

    loop = client.new_event_loop()
    try:
        return loop.run_until_complete(
            client.run_pool(port, images, concurrency, push, timeout=600)
        )
    finally:
        loop.close()


# --- workloads -------------------------------------------------------------------------------


def wl_push(b: Bench) -> None:
    s = b.sizes
    path = b.big_file()
    size = path.stat().st_size
    chunk = s.chunk_mib * MIB
    stamp = 0
    for r, order in b.orders():
        for name in order:
            for kind in ("monolithic", "sendfile", "chunked"):
                for _ in range(s.push_reps):
                    stamp += 1
                    digest = restamp(path, f"push-{stamp}")
                    repo = "big/chunked" if kind == "chunked" else "big/mono"
                    # Signed in before the clock starts: one token request is nothing next to
                    # a big push (the small-image push times it).
                    auth = b.auth(name, client.repo_scope(repo, "pull,push"))
                    # Start each timed push with no dirty pages: distribution does not fsync,
                    # and its writeback would otherwise land in the next push's time.
                    os.sync()
                    started = time.perf_counter()
                    if kind == "monolithic":
                        client.push_monolithic_curl(b.port(name), repo, path, digest, auth)
                    elif kind == "sendfile":
                        client.push_monolithic_sendfile(b.port(name), repo, path, digest, auth)
                    else:
                        client.push_chunked(b.port(name), repo, path, digest, chunk, auth)
                    rate = size / MIB / (time.perf_counter() - started)
                    b.record(f"push_{kind}", name, rate)
                    b.log(f"  round {r} {name} {kind}: {rate:.0f} MiB/s")
    for kind, label in (
        ("monolithic", "curl -T"),
        ("sendfile", "one PUT, Python sendfile client"),
        ("chunked", f"PATCH {s.chunk_mib} MiB"),
    ):
        c = median(b.raw[f"push_{kind}"]["cargohold"])
        d = median(b.raw[f"push_{kind}"]["distribution"])
        b.rows.append(
            Row(
                f"blob push {s.big_mib} MiB {'chunked' if kind == 'chunked' else 'monolithic'} "
                f"({label})",
                "MiB/s",
                c,
                "distribution",
                d,
                goal=">= 2.0x",
                met=ratio_ok(c, d, 2.0),
            )
        )


def wl_pull(b: Bench) -> None:
    s = b.sizes
    files = b.scratch / "files"
    files.mkdir(exist_ok=True)
    path = files / "pull.bin"
    if not path.exists():
        shutil.copyfile(b.big_file(), path)
        restamp(path, "pull")
    digest = client.file_digest(path)
    for name in SERVERS:
        auth = b.auth(name, client.repo_scope("big/pull", "pull,push"))
        client.push_monolithic_sendfile(b.port(name), "big/pull", path, digest, auth)
    os.chmod(b.scratch, 0o755)
    os.chmod(files, 0o755)
    os.chmod(path, 0o644)
    nginx = servers.start_nginx(b.scratch, files)
    try:
        targets = {
            "cargohold": (b.srv["cargohold"], f"/v2/big/pull/blobs/{digest}"),
            "distribution": (b.srv["distribution"], f"/v2/big/pull/blobs/{digest}"),
            "nginx": (nginx, "/files/pull.bin"),
        }
        names = list(targets)

        def auth(name: str) -> dict[str, str]:
            return {} if name == "nginx" else b.auth(name, client.repo_scope("big/pull"))

        for name, (server, url) in targets.items():  # warm-up, also checks the size
            got, _ = tools.curl_get(server.base + url, headers=auth(name))
            if got != path.stat().st_size:
                raise RuntimeError(f"{name} sent {got} bytes, expected {path.stat().st_size}")
        for run in range(s.pull_runs):
            order = names[run % 3 :] + names[: run % 3]
            if run % 2:
                order.reverse()
            for name in order:
                server, url = targets[name]
                headers = auth(name)
                cpu0 = server.cpu_seconds()
                got, seconds = tools.curl_get(server.base + url, headers=headers)
                cpu = server.cpu_seconds() - cpu0
                b.record("pull_mibs", name, got / MIB / seconds)
                b.record("pull_cpu_per_gib", name, cpu / (got / GIB))
            b.log(
                f"  run {run}: "
                + ", ".join(f"{n} {b.raw['pull_mibs'][n][-1]:.0f} MiB/s" for n in names)
            )
    finally:
        nginx.stop()
    c = median(b.raw["pull_mibs"]["cargohold"])
    d = median(b.raw["pull_mibs"]["distribution"])
    n = median(b.raw["pull_mibs"]["nginx"])
    b.rows.append(
        Row(
            f"blob pull {s.big_mib} MiB (curl)",
            "MiB/s",
            c,
            "nginx sendfile",
            n,
            goal=">= 0.9x",
            met=ratio_ok(c, n, 0.9),
        )
    )
    b.rows.append(Row(f"blob pull {s.big_mib} MiB (curl)", "MiB/s", c, "distribution", d))
    # CPU time comes in clock ticks (10 ms = 0.04 s/GiB for one 256 MiB GET), too coarse
    # for one run of nginx: use the mean over all runs (= total CPU / total GiB sent).
    cc = statistics.fmean(b.raw["pull_cpu_per_gib"]["cargohold"])
    nc = statistics.fmean(b.raw["pull_cpu_per_gib"]["nginx"])
    dc = statistics.fmean(b.raw["pull_cpu_per_gib"]["distribution"])
    b.rows.append(
        Row(
            "blob pull: server CPU per GiB sent (mean over runs)",
            "s/GiB",
            cc,
            "nginx sendfile",
            nc,
            goal="<= 2.5x",
            met=ratio_ok(cc, nc, 2.5, lower_is_better=True),
        )
    )
    b.rows.append(
        Row("blob pull: server CPU per GiB sent (mean over runs)", "s/GiB", cc, "distribution", dc)
    )


def wl_small_push(b: Bench) -> None:
    _small_push(b, "small_push", "", patch=False)


def wl_small_push_patch(b: Bench) -> None:
    """The small-image push with each blob sent as docker, podman and skopeo send it (POST,
    PATCH with the body, PUT without one): on cargohold the staged way, not the direct one."""
    _small_push(
        b, "small_push_patch", ", blobs as PATCH then an empty PUT (docker, podman, skopeo)", True
    )


def _small_push(b: Bench, key: str, what: str, patch: bool) -> None:
    s = b.sizes
    for r, order in b.orders():
        for name in order:
            if patch:
                images = b.small_set(r, seed="patch")
            else:
                # Round 0 pushes the set that manifest GET, blob HEAD and catalog use later;
                # if an earlier workload already pushed it, time a fresh set of the same shape.
                fresh = r == 0 and name in b.small_ready
                images = b.small_set(r + 100 if fresh else r)
            cpu0, srv0 = time.process_time(), b.srv[name].cpu_seconds()
            elapsed = run_small_push(
                b.port(name), images, s.small_concurrency, b.login(name), patch
            )
            client_cpu = (time.process_time() - cpu0) / elapsed
            server_cpu = (b.srv[name].cpu_seconds() - srv0) / elapsed
            if r == 0 and not patch:
                b.small_ready.add(name)
            b.settle(name)
            rate = len(images) / elapsed
            b.record(key, name, rate)
            b.log(
                f"  round {r} {name}: {len(images)} images in {elapsed:.1f}s = {rate:.0f}/s "
                f"(CPU cores busy: client {client_cpu:.2f}, server {server_cpu:.2f})"
            )
    c = median(b.raw[key].get("cargohold", []))
    d = median(b.raw[key].get("distribution", []))
    b.rows.append(
        Row(
            f"push {s.small_images} small images, {s.small_concurrency} clients{what}",
            "images/s",
            c,
            "distribution",
            d,
            goal=">= 2x",
            met=ratio_ok(c, d, 2.0),
        )
    )


def manifest_script(
    b: Bench, name: str, delay_ms: int | None = None, login: Login | None = None
) -> Path:
    """A wrk script of manifest GETs over the round-0 small images for server `name`, signed in
    as its clients are (or as `login`): with the token flow, one registry token per repository,
    each reused for every request to it, as one docker client per repository would. Written
    again before every wrk run, so that no token in it expires during the run."""
    images = b.small_set(0)
    paths = [f"/v2/{im.repo}/manifests/{im.tag}" for im in images]
    scopes = [client.repo_scope(im.repo) for im in images]
    auth = b.credentials(name, login).headers_many(scopes)
    login = login or b.login(name)
    who = login.kind if login.name or login.kind == "none" else "anonymous-token"
    suffix = f"-delay{delay_ms}" if delay_ms else ""
    return tools.write_wrk_script(
        b.scratch / f"manifest-{name}-{who}{suffix}.lua", paths, delay_ms, auth
    )


def _load_rows(
    b: Bench,
    key: str,
    title: str,
    goal_rps: float | None,
    goal_p99: float | None,
    value: str = "cargohold",
    ref: str = "distribution",
) -> None:
    """A req/s row and a p99 row: the medians of `value` against those of `ref` (targets under
    `key`), each with its goal as a ratio when given."""
    v_rps = median([x.rps for x in b.raw[key][value]])
    r_rps = median([x.rps for x in b.raw[key][ref]])
    v_p99 = median([x.p99_ms for x in b.raw[key][value]])
    r_p99 = median([x.p99_ms for x in b.raw[key][ref]])
    b.rows.append(
        Row(
            title,
            "req/s",
            v_rps,
            ref,
            r_rps,
            goal=f">= {goal_rps:g}x" if goal_rps else "",
            met=ratio_ok(v_rps, r_rps, goal_rps) if goal_rps else None,
        )
    )
    b.rows.append(
        Row(
            title,
            "p99 ms",
            v_p99,
            ref,
            r_p99,
            goal=f"<= {goal_p99:g}x" if goal_p99 else "",
            met=ratio_ok(v_p99, r_p99, goal_p99, lower_is_better=True) if goal_p99 else None,
        )
    )


def _check_load(name: str, what: str, res: tools.LoadResult) -> None:
    if res.errors:
        raise RuntimeError(f"{what} on {name}: {res.errors} errors of {res.requests} requests")


def wl_manifest_get(
    b: Bench,
    key: str = "manifest_get",
    title: str = "",
    goals: tuple[float | None, float | None] = (10, 0.1),
) -> None:
    s = b.sizes
    for name in SERVERS:
        b.ensure_small_images(name)
    for r, order in b.orders():
        for name in order:
            script = manifest_script(b, name)
            tools.run_wrk(b.srv[name].base, script, s.warmup_seconds, 64)
            res = tools.run_wrk(b.srv[name].base, script, s.load_seconds, 64)
            _check_load(name, "manifest GET", res)
            b.record(key, name, res)
            b.log(f"  round {r} {name}: {res.rps:.0f} req/s, p99 {res.p99_ms:.2f} ms")
    if key == "manifest_get":
        for name in SERVERS:
            b.manifest_rps[name] = median([x.rps for x in b.raw[key][name]])
    title = title or f"manifest GET by tag (wrk -c64, {s.small_images} tags)"
    _load_rows(b, key, title, *goals)


def wl_manifest_get_signed(b: Bench) -> None:
    """Manifest GET on cargohold alone: the small images' project enforcing signatures (every
    image signed by its trusted key) against the same project not enforcing, alternating."""
    s, name, key = b.sizes, "cargohold", "manifest_get_signed"
    b.ensure_small_images(name)
    images = b.small_set(0)
    project = images[0].repo.split("/", 1)[0]
    base = b.srv[name].base
    took = signature_bench.enforce_signed(base, b.admin_auth, project, images)
    b.log(f"  setup: {len(images)} images signed, enforcement on, in {took:.1f}s")
    for r in range(s.rounds):
        for on in (r % 2 == 0, r % 2 != 0):
            signature_bench.enforcement(base, b.admin_auth, project, on)
            b.settle(name)  # a recomputation job (large projects); then every worker's gate
            time.sleep(2.5)  # refresh (PULL_GATE_REFRESH_SECONDS) has seen the switch
            script = manifest_script(b, name)
            tools.run_wrk(base, script, s.warmup_seconds, 64)
            res = tools.run_wrk(base, script, s.load_seconds, 64)
            _check_load(name, "manifest GET", res)
            label = "enforcing" if on else "not enforcing"
            b.record(key, label, res)
            b.log(f"  round {r} {label}: {res.rps:.0f} req/s, p99 {res.p99_ms:.2f} ms")
    signature_bench.enforcement(base, b.admin_auth, project, False)
    title = f"manifest GET by tag, signatures enforced vs not (wrk -c64, {len(images)} tags)"
    _load_rows(b, key, title, 0.9, None, value="enforcing", ref="not enforcing")


def wl_manifest_get_shipped(b: Bench) -> None:
    # main() restarted both servers with their default access logs (Bench.use_access_logs).
    title = (
        f"manifest GET by tag, as shipped: access logs on (wrk -c64, {b.sizes.small_images} tags)"
    )
    wl_manifest_get(b, "manifest_get_shipped", title)


def wl_blob_head_shipped(b: Bench) -> None:
    wl_blob_head(b, "blob_head_shipped", "blob HEAD, as shipped: access logs on (ab -i -k -c64)")


def wl_blob_head(b: Bench, key: str = "blob_head", title: str = "") -> None:
    s = b.sizes
    for name in SERVERS:
        b.ensure_small_images(name)
    image = b.small_set(0)[0]
    path = f"/v2/{image.repo}/blobs/{image.layer_digest}"
    for r, order in b.orders():
        for name in order:
            url = b.srv[name].base + path
            auth = b.auth(name, client.repo_scope(image.repo))
            tools.run_ab_head(url, s.warmup_seconds, 64, auth)
            res = tools.run_ab_head(url, s.load_seconds, 64, auth)
            _check_load(name, "blob HEAD", res)
            b.record(key, name, res)
            b.log(f"  round {r} {name}: {res.rps:.0f} req/s, p99 {res.p99_ms:.0f} ms")
    _load_rows(b, key, title or "blob HEAD (ab -i -k -c64, 1 URL)", 10, 0.1)


# --- the cost of access control --------------------------------------------------------------
#
# Each of these measures, within one run and alternating, the same requests signed in and not:
# cargohold signed in (the token flow, as shipped) against cargohold answering anonymous
# clients (a public project) or with auth off, and distribution with htpasswd against
# distribution open to anyone. The extra servers run only during the workload.


def target_orders(
    b: Bench, targets: list[str], runs: int | None = None
) -> list[tuple[int, list[str]]]:
    """(run, order) pairs over several targets, for `runs` runs (default: the rounds):
    rotated by one each run (and from one workload to the next), reversed every other run.
    Two targets are only rotated: reversing the rotated pair would put it back in order."""
    out = []
    for r in range(b.sizes.rounds if runs is None else runs):
        shift = (r + b.order_flip) % len(targets)
        order = targets[shift:] + targets[:shift]
        reverse = (r + b.order_flip) % 2 and len(targets) > 2
        out.append((r, order[::-1] if reverse else order))
    b.order_flip += 1
    return out


def wl_manifest_get_anonymous(b: Bench) -> None:
    """Manifest GETs of the round-0 images (a public project): cargohold with registry tokens,
    anonymous with no credentials and anonymous with a token (docker's way), distribution with
    htpasswd and open (a second distribution over the same data, no auth)."""
    s = b.sizes
    for name in SERVERS:
        b.ensure_small_images(name)
    # target: (server, login)
    targets: dict[str, tuple[str, Login]] = {
        "cargohold": ("cargohold", b.login("cargohold")),
        "cargohold anonymous": ("cargohold", ANONYMOUS),
        "cargohold anonymous token": ("cargohold", ANONYMOUS_TOKEN),
        "distribution": ("distribution", b.login("distribution")),
        "distribution anonymous": ("distribution-open", ANONYMOUS),
    }
    key = "manifest_get_signed_in_vs_anonymous"
    b.start_extra("distribution-open")
    try:
        for r, order in target_orders(b, list(targets)):
            for target in order:
                name, login = targets[target]
                script = manifest_script(b, name, login=login)
                tools.run_wrk(b.srv[name].base, script, s.warmup_seconds, 64)
                res = tools.run_wrk(b.srv[name].base, script, s.load_seconds, 64)
                _check_load(target, "manifest GET", res)
                b.record(key, target, res)
                b.log(f"  round {r} {target}: {res.rps:.0f} req/s, p99 {res.p99_ms:.2f} ms")
    finally:
        b.stop_extra("distribution-open")

    what = f"manifest GET by tag (wrk -c64, {s.small_images} tags, public project)"
    for title, goals, value, ref in (
        (
            "cargohold signed in (a registry token per repository) vs anonymous",
            (0.85, None),
            "cargohold",
            "cargohold anonymous",
        ),
        (
            "cargohold anonymous, with a registry token (docker's way) vs none",
            (None, None),
            "cargohold anonymous token",
            "cargohold anonymous",
        ),
        ("anonymous on both", (10.0, 0.1), "cargohold anonymous", "distribution anonymous"),
    ):
        _load_rows(b, key, f"{what}: {title}", *goals, value, ref)
    _load_rows(
        b,
        key,
        f"distribution: {what}, with htpasswd (Basic, bcrypt) vs anonymous",
        None,
        None,
        "distribution",
        "distribution anonymous",
    )


def push_slices(
    images: list[client.SmallImage], repos: int, slices: int
) -> list[list[client.SmallImage]]:
    """A round's images (image i in repository i % repos) in `slices` slices of whole
    repositories: a repository's images stay in one slice, in their order, so its second
    image still follows its first by a few hundred images."""
    width = -(-repos // slices)
    return [
        [image for i, image in enumerate(images) if low <= i % repos < low + width]
        for low in range(0, repos, width)
    ]


def wl_small_push_auth(b: Bench) -> None:
    """The small-image push signed in (cargohold: a robot through the token flow, one token
    per image; distribution: htpasswd) against the same push with no credentials, into a
    second cargohold with auth off (its own, new data directory) and an open distribution.

    The two servers of a pair take turns in slices of a round's images, the first of each
    turn alternating, and cargohold's background jobs (scans of what was pushed) are drained,
    untimed, after each slice: a VM whose speed drifts over seconds to minutes then slows both
    sides of a ratio alike (whole rounds pushed one after the other gave a round's ratio
    anywhere from 0.52x to 1.31x)."""
    s = b.sizes
    pairs: dict[str, tuple[str, str]] = {  # target: (server, project)
        "cargohold": ("cargohold", "authpush"),
        "cargohold auth off": ("cargohold-authoff", "authpush"),
        # The two distributions share one storage, so their repositories differ too.
        "distribution": ("distribution", "authpush"),
        "distribution anonymous": ("distribution-open", "openpush"),
    }
    targets = list(pairs)
    key = "small_push_signed_in_vs_off"
    b.start_extra("cargohold-authoff")
    b.start_extra("distribution-open")
    try:
        for r in range(s.rounds):
            for pair in (targets[:2], targets[2:]) if r % 2 == 0 else (targets[2:], targets[:2]):
                slices = {
                    t: push_slices(
                        b.small_set(r, pairs[t][1], seed=f"{pairs[t][0]}-"),
                        s.small_repos,
                        SMALL_PUSH_SLICES,
                    )
                    for t in pair
                }
                elapsed = dict.fromkeys(pair, 0.0)
                cpu = dict.fromkeys(pair, 0.0)
                for k in range(SMALL_PUSH_SLICES):
                    for target in pair if (r + k) % 2 == 0 else pair[::-1]:
                        name = pairs[target][0]
                        srv0 = b.srv[name].cpu_seconds()
                        elapsed[target] += run_small_push(
                            b.port(name), slices[target][k], s.small_concurrency, b.login(name)
                        )
                        cpu[target] += b.srv[name].cpu_seconds() - srv0
                        b.settle(name, quiet=True)
                for target in pair:
                    rate = s.small_images / elapsed[target]
                    server_cpu = cpu[target] / s.small_images * 1000
                    b.record(key, target, rate)
                    b.record(key + "_seconds", target, elapsed[target])
                    b.record(key + "_server_cpu_ms", target, server_cpu)
                    b.log(
                        f"  round {r} {target}: {s.small_images} images in"
                        f" {elapsed[target]:.1f}s = {rate:.0f}/s (server CPU {server_cpu:.1f} ms"
                        f" per image; {SMALL_PUSH_SLICES} slices, taking turns)"
                    )
    finally:
        b.stop_extra("cargohold-authoff", "distribution-open")
    # Pooled: every image of every round over all the time they took (one slow round weighs
    # what it cost, where a median of two rounds is their mean).
    rate = {
        t: s.small_images * len(b.raw[key + "_seconds"][t]) / sum(b.raw[key + "_seconds"][t])
        for t in targets
    }
    cpu = {t: median(b.raw[key + "_server_cpu_ms"][t]) for t in targets}
    rounds = [
        signed / off
        for signed, off in zip(
            b.raw[key]["cargohold"], b.raw[key]["cargohold auth off"], strict=True
        )
    ]
    what = f"push {s.small_images} small images, {s.small_concurrency} clients"
    b.rows += [
        Row(
            f"{what}, all rounds pooled: cargohold signed in (robot, a registry token per"
            " image) vs auth off",
            "images/s",
            rate["cargohold"],
            "cargohold auth off",
            rate["cargohold auth off"],
            goal=">= 0.9x",
            met=ratio_ok(rate["cargohold"], rate["cargohold auth off"], 0.9),
            note=f"{len(rounds)} rounds of {SMALL_PUSH_SLICES} slices taking turns, each round"
            f" {fmt(min(rounds))}x to {fmt(max(rounds))}x;"
            f" server CPU ms per image: {fmt(cpu['cargohold'])} vs"
            f" {fmt(cpu['cargohold auth off'])}",
        ),
        Row(
            f"distribution: {what}, with htpasswd (Basic, bcrypt) vs anonymous",
            "images/s",
            rate["distribution"],
            "distribution anonymous",
            rate["distribution anonymous"],
            note=f"server CPU ms per image: {fmt(cpu['distribution'])} vs "
            f"{fmt(cpu['distribution anonymous'])}",
        ),
    ]


def wl_tags_list(b: Bench) -> None:
    s = b.sizes
    repo = "tags/many"
    image = client.make_small_image(repo, "base", "tags-base")
    tags = [f"t{i:05d}" for i in range(s.tags)]

    for name in SERVERS:
        port = b.port(name)
        run_small_push(port, [image], 1, b.login(name))
        auth = b.auth(name, client.repo_scope(repo, "pull,push"))

        async def put_tag(conn: client.AsyncConn, tag: str, auth: dict[str, str] = auth) -> None:
            await client.put_manifest(conn, repo, tag, image.manifest, auth)

        loop = client.new_event_loop()
        try:
            elapsed = loop.run_until_complete(
                client.run_pool(port, tags, s.small_concurrency, put_tag, timeout=900)
            )
        finally:
            loop.close()
        b.log(f"  setup: {s.tags} tags into {name} in {elapsed:.1f}s")

    for r, order in b.orders():
        for name in order:
            times = []
            auth = b.auth(name, client.repo_scope(repo))
            with client.SyncConn("127.0.0.1", b.port(name)) as conn:
                deadline = time.perf_counter() + s.tags_seconds
                while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 500):
                    started = time.perf_counter()
                    got = full_tag_list(conn, repo, auth)
                    times.append(time.perf_counter() - started)
                    if len(got) != s.tags + 1:
                        raise RuntimeError(f"{name}: tags list has {len(got)} tags")
            ms = statistics.median(times) * 1000
            b.record("tags_list_ms", name, ms)
            b.log(f"  round {r} {name}: {ms:.1f} ms per full list ({len(times)} lists)")
    c = median(b.raw["tags_list_ms"]["cargohold"])
    d = median(b.raw["tags_list_ms"]["distribution"])
    b.rows.append(
        Row(
            f"tags list, {s.tags} tags (full list, sequential)",
            "lists/s",
            1000 / c,
            "distribution",
            1000 / d,
            goal=">= 3x",
            met=ratio_ok(1000 / c, 1000 / d, 3.0),
            note=f"ms per list: cargohold {c:.1f}, distribution {d:.1f}",
        )
    )


def full_tag_list(conn: client.SyncConn, repo: str, auth: dict[str, str]) -> list[str]:
    """GET the tags list, following `Link: <...>; rel="next"` pages if the server sends any."""
    url: str | None = f"/v2/{repo}/tags/list"
    tags: list[str] = []
    while url:
        resp = client.expect(conn.request("GET", url, auth), 200, "tags list")
        tags.extend(json.loads(resp.body)["tags"])
        link = resp.headers.get("link", "")
        url = client.path_of(link[link.index("<") + 1 : link.index(">")]) if link else None
    return tags


def wl_catalog(b: Bench) -> None:
    s = b.sizes
    for name in SERVERS:
        b.ensure_small_images(name)
    path = "/v2/_catalog?n=1000"
    counts = {}
    for name in SERVERS:
        with client.SyncConn("127.0.0.1", b.port(name)) as conn:
            auth = b.auth(name, client.CATALOG_SCOPE)
            resp = client.expect(conn.request("GET", path, auth), 200, "catalog")
            counts[name] = len(json.loads(resp.body)["repositories"])
    for r, order in b.orders():
        for name in order:
            auth = b.auth(name, client.CATALOG_SCOPE)
            script = tools.write_wrk_script(b.scratch / f"catalog-{name}.lua", [path], auth=[auth])
            tools.run_wrk(b.srv[name].base, script, s.warmup_seconds, 8)
            res = tools.run_wrk(b.srv[name].base, script, s.load_seconds, 8)
            _check_load(name, "catalog", res)
            b.record("catalog", name, res)
            b.log(f"  round {r} {name}: {res.rps:.0f} req/s, p99 {res.p99_ms:.1f} ms")
    c = median([x.rps for x in b.raw["catalog"]["cargohold"]])
    d = median([x.rps for x in b.raw["catalog"]["distribution"]])
    b.rows.append(
        Row(
            f"catalog ?n=1000 (wrk -c8; page of {counts['cargohold']} repos)",
            "req/s",
            c,
            "distribution",
            d,
            goal=">= 10x",
            met=ratio_ok(c, d, 10.0),
            note=f"distribution page: {counts['distribution']} repos",
        )
    )


def wl_concurrent_push(b: Bench) -> None:
    s = b.sizes
    size = s.concurrent_mib * MIB
    paths = [b.scratch / f"conc-{i}.bin" for i in range(s.concurrent_pushes)]
    for p in paths:
        if not p.exists():
            write_random(p, size)
    stamp = 0
    for r, order in b.orders():
        for name in order:
            stamp += 1
            digests = [restamp(p, f"conc-{stamp}-{i}") for i, p in enumerate(paths)]
            errors: list[BaseException] = []
            scopes = [client.repo_scope(f"conc/p{i}", "pull,push") for i in range(len(paths))]
            auths = b.credentials(name).headers_many(scopes)

            def push(
                i: int,
                name: str = name,
                digests: list[str] = digests,
                errors: list[BaseException] = errors,
                auths: list[dict[str, str]] = auths,
            ) -> None:
                try:
                    client.push_monolithic_sendfile(
                        b.port(name), f"conc/p{i}", paths[i], digests[i], auths[i]
                    )
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=push, args=(i,)) for i in range(len(paths))]
            os.sync()  # no dirty pages left from the previous round (see wl_push)
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=600)
            elapsed = time.perf_counter() - started
            if errors:
                raise RuntimeError(f"concurrent push on {name}: {errors[0]!r}")
            rate = len(paths) * size / MIB / elapsed
            b.record("concurrent_push", name, rate)
            b.log(f"  round {r} {name}: {rate:.0f} MiB/s aggregate")
    c = median(b.raw["concurrent_push"]["cargohold"])
    d = median(b.raw["concurrent_push"]["distribution"])
    b.rows.append(
        Row(
            f"{s.concurrent_pushes} concurrent {s.concurrent_mib} MiB pushes (aggregate)",
            "MiB/s",
            c,
            "distribution",
            d,
            goal=">= 2.0x",
            met=ratio_ok(c, d, 2.0),
        )
    )


def rate_limited_plan(target_rps: float) -> tuple[int, int]:
    """(connections, delay ms) so that connections / delay ~= target (wrk's Lua delay())."""
    for delay in range(1, 1001):
        conns = round(target_rps * delay / 1000)
        if conns >= 16:
            return min(conns, 256), delay
    return max(2, round(target_rps)), 1000


class BackgroundPusher:
    """Back-to-back monolithic pushes of the big file until stopped."""

    def __init__(self, port: int, path: Path, digest: str, auth: dict[str, str]) -> None:
        self.port, self.path, self.digest, self.auth = port, path, digest, auth
        self.stop = threading.Event()
        self.done = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                client.push_monolithic_sendfile(
                    self.port, "big/background", self.path, self.digest, self.auth
                )
                self.done += 1
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> BackgroundPusher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=300)


def wl_push_latency(b: Bench) -> None:
    s = b.sizes
    for name in SERVERS:
        b.ensure_small_images(name)
        if name not in b.manifest_rps:
            script = manifest_script(b, name)
            tools.run_wrk(b.srv[name].base, script, s.warmup_seconds, 64)
            b.manifest_rps[name] = tools.run_wrk(b.srv[name].base, script, s.load_seconds, 64).rps
    path = b.scratch / "background.bin"
    if not path.exists():
        shutil.copyfile(b.big_file(), path)
    digest = restamp(path, "background")
    plans = {}
    for name in SERVERS:
        target = b.manifest_rps[name] / 2
        conns, delay = rate_limited_plan(target)
        script = manifest_script(b, name, delay)
        # Each connection's cycle is delay + response time, so the first guess offers less
        # than planned: measure once and scale the connection count to hit the target.
        probe = tools.run_wrk(b.srv[name].base, script, max(2, s.warmup_seconds), conns)
        conns = max(2, min(512, round(conns * target / max(probe.rps, 1))))
        plans[name] = (conns, delay)
        b.log(
            f"  {name}: max {b.manifest_rps[name]:.0f} req/s, target {target:.0f}: "
            f"{delay} ms delay per request; probe {probe.rps:.0f} req/s -> {conns} connections"
        )
    for r, order in b.orders():
        for name in order:
            conns, delay = plans[name]
            base = b.srv[name].base
            phases = ("idle", "push") if r % 2 == 0 else ("push", "idle")
            for phase in phases:
                script = manifest_script(b, name, delay)
                tools.run_wrk(base, script, s.warmup_seconds, conns)
                if phase == "idle":
                    res = tools.run_wrk(base, script, s.load_seconds, conns)
                    pushed = 0
                else:
                    auth = b.auth(name, client.repo_scope("big/background", "pull,push"))
                    with BackgroundPusher(b.port(name), path, digest, auth) as pusher:
                        time.sleep(0.3)  # the first push is under way
                        res = tools.run_wrk(base, script, s.load_seconds, conns)
                        pushed = pusher.done
                    if pusher.error is not None:
                        raise RuntimeError(f"background push on {name}: {pusher.error!r}")
                _check_load(name, f"manifest GET ({phase})", res)
                b.record(f"latency_{phase}", name, res)
                b.log(
                    f"  round {r} {name} {phase}: {res.rps:.0f} req/s, p99 {res.p99_ms:.2f} ms"
                    + (f" ({pushed} pushes of {s.big_mib} MiB finished)" if phase == "push" else "")
                )
    for name in SERVERS:
        idle = median([x.p99_ms for x in b.raw["latency_idle"][name]])
        busy = median([x.p99_ms for x in b.raw["latency_push"][name]])
        rps = median([x.rps for x in b.raw["latency_push"][name]])
        is_cargo = name == "cargohold"
        b.rows.append(
            Row(
                f"{name}: manifest GET p99 at ~half max rate, during vs without a "
                f"{s.big_mib} MiB push",
                "p99 ms",
                busy,
                f"{name} without push",
                idle,
                goal="<= 2x" if is_cargo else "",
                met=ratio_ok(busy, idle, 2.0, lower_is_better=True) if is_cargo else None,
                note=f"{rps:.0f} req/s achieved during push",
            )
        )


def ratio_ok(value: float | None, ref: float | None, goal: float, lower_is_better: bool = False):  # type: ignore[no-untyped-def]
    if value is None or ref is None or ref == 0:
        return None
    ratio = value / ref
    return ratio <= goal if lower_is_better else ratio >= goal


WORKLOAD_FUNCS: dict[str, Callable[[Bench], None]] = {
    "push": wl_push,
    "pull": wl_pull,
    "small_push": wl_small_push,
    "small_push_patch": wl_small_push_patch,
    "small_push_auth": wl_small_push_auth,
    "manifest_get": wl_manifest_get,
    "manifest_get_signed": wl_manifest_get_signed,
    "blob_head": wl_blob_head,
    "manifest_get_anonymous": wl_manifest_get_anonymous,
    "tags_list": wl_tags_list,
    "catalog": wl_catalog,
    "concurrent_push": wl_concurrent_push,
    "push_latency": wl_push_latency,
    "manifest_get_shipped": wl_manifest_get_shipped,
    "blob_head_shipped": wl_blob_head_shipped,
}


# --- profiling -------------------------------------------------------------------------------


class Profiler:
    """`py-spy record --subprocesses` on cargohold's tree while one workload runs.

    Sampling costs the server CPU, so numbers from a profiled run are not comparable."""

    def __init__(self, pid: int, out: Path) -> None:
        exe = Path(sys.executable).parent / "py-spy"
        spy = str(exe) if exe.exists() else (shutil.which("py-spy") or "py-spy")
        self.out = out
        self.proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--nonblocking",
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.out.exists():
            self.out.with_suffix(".top.txt").write_text(summarize_profile(self.out))


def summarize_profile(path: Path, top: int = 30) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = [f for f in stack.split(";") if not f.startswith("process ")]
        frames = [_frame(f) for f in raw_frames] or ["(no Python frame: native code)"]
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        # Inclusive shares only for cargohold's own request-handling code.
        for frame in {
            _frame(f) for f in raw_frames if "cargohold/" in f and "cargohold/cli" not in f
        } - {_frame(f) for f in raw_frames if "cargohold/server.py" in f}:
            incl[frame] = incl.get(frame, 0) + count
    if not total:
        return "no samples\n"
    out = [f"{total} samples (all processes of the tree)", "", "self %  function"]
    for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"{100 * n / total:6.1f}  {name}")
    out += ["", "incl %  cargohold function"]
    for name, n in sorted(incl.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"{100 * n / total:6.1f}  {name}")
    return "\n".join(out) + "\n"


def _frame(frame: str) -> str:
    """`func (path/to/file.py:123)` -> `func (file.py)`; idle/native frames as they are."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(file.rsplit('/', 2)[-2:]) if file else '?'})"


# --- report ----------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(rows: list[Row]) -> str:
    lines = [
        "| workload | metric | cargohold | reference | ratio | goal | met |",
        "|---|---|---:|---|---:|---|---|",
    ]
    for row in rows:
        ratio = row.cargo / row.ref if row.cargo is not None and row.ref else None
        met = {True: "yes", False: "**NO**", None: ""}[row.met]
        note = f" ({row.note})" if row.note else ""
        lines.append(
            f"| {row.workload}{note} | {row.metric} | {fmt(row.cargo)} | "
            f"{row.ref_name}: {fmt(row.ref)} | {fmt(ratio)}x | {row.goal} | {met} |"
        )
    return "\n".join(lines)


def machine_notes() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0].split(" Copyright")[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    try:
        rev = subprocess.run(
            ["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        rev = "?"
    return (
        f"cargohold at git {rev or '?'}; "
        f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}; distribution: "
        f"{version([servers.DISTRIBUTION_BIN, '--version'])}; "
        f"{version(['nginx', '-v'])}; {version(['wrk', '-v'])}; load average at start: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def raw_lines(raw: dict[str, Any]) -> list[str]:
    out = []
    for key, per_server in raw.items():
        parts = []
        for name, values in per_server.items():
            shown = [
                f"{v.rps:.0f}/{v.p99_ms:.1f}ms" if isinstance(v, tools.LoadResult) else fmt(v)
                for v in values
            ]
            parts.append(f"{name} [{', '.join(shown)}]")
        out.append(f"- {key}: " + "; ".join(parts))
    return out


def jsonable(raw: dict[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        return v.__dict__ if isinstance(v, tools.LoadResult) else v

    return {k: {n: [conv(v) for v in vs] for n, vs in d.items()} for k, d in raw.items()}


# --- the parts of a run (bench/s3_run.py runs its workloads with them too) -----------------


@dataclass
class Session:
    """One run of a bench script: its arguments, the workloads chosen, its clock, the
    machine it runs on and its scratch folder."""

    args: argparse.Namespace
    selected: list[str]
    started_at: dt.datetime
    t0: float
    notes: str
    scratch: Path

    def log(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", flush=True)

    def keep_or_clean(self) -> None:
        """Keep the scratch folder (--keep) or have cleanup() remove it after the report."""
        if self.args.keep:
            self.log(f"kept the scratch folder {self.scratch}")
        else:
            _CLEANUP.append(self.scratch)


def _on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def start_session(
    doc: str,
    workloads: tuple[str, ...],
    out: Path,
    needed: tuple[str, ...],
    scratch_prefix: str,
    argv: list[str] | None,
) -> Session:
    """Parse the common options (a usage error for unknown workloads or missing tools),
    then start the clock, turn SIGTERM into KeyboardInterrupt and make the scratch folder."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(workloads))
    parser.add_argument("--out", default=str(out))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--workers", type=int, default=2, help="granian workers per cargohold")
    parser.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="rounds of each workload, alternating the servers (default 2, --quick 1); more"
        " rounds narrow a noisy machine's spread",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy record cargohold during each workload (profile-*.txt beside --out)",
    )
    args = parser.parse_args(argv)
    selected = [w.strip() for w in args.only.split(",") if w.strip()] or list(workloads)
    unknown = [w for w in selected if w not in workloads]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {', '.join(workloads)}")
    if args.rounds < 0:
        parser.error("--rounds must be 1 or more")
    for tool in needed:
        if shutil.which(tool) is None:
            parser.error(f"{tool} not found: `make bench` installs the Debian packages")
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    signal.signal(signal.SIGTERM, _on_signal)
    notes = machine_notes()
    scratch = Path(tempfile.mkdtemp(prefix=scratch_prefix))
    return Session(args, selected, started_at, t0, notes, scratch)


B = TypeVar("B", bound=Bench)


def run_workloads(
    b: B, session: Session, funcs: dict[str, Callable[[B], None]], profile_prefix: str
) -> list[str]:
    """Run each chosen workload (the `_shipped` ones with both servers logging as shipped),
    under py-spy with --profile; a workload that fails is reported and the others go on.
    The failures, one line each."""
    failures: list[str] = []
    for name in session.selected:
        session.log(f"== {name}")
        b.use_access_logs(name.endswith("_shipped"))
        profiler = None
        if session.args.profile:
            out_dir = Path(session.args.out).parent
            out_dir.mkdir(parents=True, exist_ok=True)
            profiler = Profiler(b.srv["cargohold"].pid, out_dir / f"{profile_prefix}{name}.txt")
        try:
            funcs[name](b)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            traceback.print_exc()
            failures.append(f"{name}: {exc!r}")
            session.log(f"!! {name} failed: {exc!r}")
        finally:
            if profiler is not None:
                profiler.stop()
        rss = procs.peak_rss_per_process(b.srv["cargohold"].pid)
        per = " + ".join(f"{m:.0f}" for m in rss)
        session.log(f"   cargohold peak RSS so far: {sum(rss):.0f} MiB ({per})")
    return failures


def write_report(
    session: Session,
    b: Bench,
    failures: list[str],
    title: str,
    command: str,
    about: list[str],
    sections: list[str] | None = None,
) -> int:
    """Write the table, `sections`, the failures and the per-run values to --out (and the
    values as JSON beside it), print the table; the exit status (1: a workload failed)."""
    args = session.args
    table = render(b.rows)
    command += (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "")
    doc = [
        f"# {title} ({'quick' if args.quick else 'full'} run)",
        "",
        f"- date: {session.started_at:%Y-%m-%d %H:%M} UTC; "
        f"duration {time.perf_counter() - session.t0:.0f} s",
        f"- command: `{command}`",
        *about,
        "",
        table,
        "",
        *(sections or []),
    ]
    if failures:
        doc += ["## Failed workloads", "", *[f"- {f}" for f in failures], ""]
    doc += ["## Per-run values (medians above)", "", *raw_lines(b.raw), ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(doc))
    out.with_suffix(".json").write_text(json.dumps(jsonable(b.raw), indent=1))
    print()
    print(table)
    print(f"\nwritten to {out}")
    return 1 if failures else 0


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    needed = ("curl", "wrk", "ab", servers.NGINX_BIN, servers.DISTRIBUTION_BIN)
    session = start_session(
        __doc__ or "", WORKLOADS, HERE / "results" / "latest.md", needed, "cargohold-bench-", argv
    )
    args, scratch, log = session.args, session.scratch, session.log
    sizes = with_rounds(QUICK if args.quick else FULL, args.rounds)
    bench: Bench | None = None
    failures: list[str] = []
    peak: tuple[float, int] | None = None
    per_process: list[float] = []
    dist_peak: tuple[float, int] | None = None
    try:
        log(f"scratch folder {scratch}")
        htpasswd = scratch / "htpasswd"
        distribution_login = access_setup.write_htpasswd(htpasswd)
        srv = {
            "cargohold": servers.start_cargohold(scratch, args.workers),
            "distribution": servers.start_distribution(scratch, htpasswd=htpasswd),
        }
        log(", ".join(f"{n} on {s.base} (pid {s.pid})" for n, s in srv.items()))
        accounts = access_setup.setup_cargohold(
            srv["cargohold"].base, bench_projects(sizes), PUBLIC_PROJECTS
        )
        log(
            f"cargohold: projects {', '.join(bench_projects(sizes))} "
            f"(public: {', '.join(PUBLIC_PROJECTS)}), robot {accounts.robot.name}; "
            f"distribution: htpasswd user {distribution_login.name}"
        )
        bench = Bench(
            sizes,
            scratch,
            srv,
            log,
            logins={"cargohold": accounts.robot, "distribution": distribution_login},
            admin_auth=client.basic_header(accounts.admin_token.name, accounts.admin_token.secret),
            htpasswd=htpasswd,
            workers=args.workers,
        )
        failures = run_workloads(bench, session, WORKLOAD_FUNCS, "profile-")
        peak = bench.srv["cargohold"].peak_rss_mib()
        per_process = procs.peak_rss_per_process(bench.srv["cargohold"].pid)
        dist_peak = bench.srv["distribution"].peak_rss_mib()
    finally:
        procs.stop_all()
        session.keep_or_clean()

    assert bench is not None
    if peak is not None:
        bench.rows.append(
            Row(
                f"cargohold peak RSS, sum of VmHWM over {peak[1]} processes",
                "MiB",
                peak[0],
                "goal",
                200.0,
                goal="<= 200 MiB",
                met=peak[0] <= 200,
                note="per process: "
                + " + ".join(f"{m:.0f}" for m in per_process)
                + (f"; distribution: {dist_peak[0]:.0f} MiB" if dist_peak else ""),
            )
        )
    about = [
        f"- machine: {session.notes}",
        f"- cargohold: {args.workers} granian workers, access control on (as shipped), access "
        "log off; its clients sign in through the token flow with a robot (pull and push on "
        "the bench's projects): one registry token per repository for reads, one per image "
        "pushed; distribution: filesystem storage, delete enabled, access log off, htpasswd "
        f"authentication (bcrypt cost {access_setup.BCRYPT_COST}), Basic credentials on "
        "every request; the `signed in vs` rows add an anonymous or auth-off server of each "
        "kind for the length of that workload; "
        "`_shipped` rows: both restarted over the same data with their default logging "
        "(cargohold: access log on, level info; distribution: level info, access log on), "
        "written to a file",
        "- ratio = cargohold / reference (higher is better for rates, lower for ms and CPU)",
    ]
    return write_report(
        session, bench, failures, "cargohold benchmark", "python bench/run.py", about
    )


def cleanup() -> None:
    procs.stop_all()
    for path in _CLEANUP:
        # Deleting GiBs of blobs can take a minute on a disk with online discard.
        print(f"removing {path}", flush=True)
        shutil.rmtree(path, ignore_errors=True)
    _CLEANUP.clear()


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()
