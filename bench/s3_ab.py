"""Two cargohold source trees side by side on one SeaweedFS and PostgreSQL: chunked pushes
alternating between them, to tell a change from the machine's noise.

Usage:
    git archive BASE | tar -x -C /tmp/base
    PYTHONPATH=src .venv/bin/python bench/s3_ab.py --base /tmp/base/src --new src [--pairs 12]

Each tree runs as its own server (its sources first on PYTHONPATH; the venv's dependencies),
with its own metadata database and key prefix on the same stores, access control off (loopback
only). A pair is one push to each, in alternating order; both see the same moments of the
machine, so the per-pair ratio is what to read, not the rates across runs. Each push is
bench/client.py's chunked push (POST, PATCHes of --chunk-mib, PUT ?digest=) of a fresh blob of
--mib. Timings never go into tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests.support

from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.seaweedfs import SeaweedServer, s3_server  # noqa: E402

import client  # noqa: E402
from run import MIB, restamp  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the base tree's src folder")
    parser.add_argument("--new", required=True, help="the changed tree's src folder")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--chunk-mib", type=int, default=16)
    args = parser.parse_args()
    trees = {"base": str(Path(args.base).resolve()), "new": str(Path(args.new).resolve())}
    scratch = Path(tempfile.mkdtemp(prefix="cargohold-ab-"))
    blob = scratch / "blob.bin"
    blob.write_bytes(b"\0" * (args.mib * MIB))
    seaweed, postgres = SeaweedServer().start(), PostgresServer().start()
    servers = {}
    try:
        for name, src in trees.items():
            servers[name] = s3_server(
                scratch / name,
                seaweed,
                f"{name}/",
                postgres.create_database(name),
                CARGOHOLD_AUTH="off",
                PYTHONPATH=src,
            )
        rates: dict[str, list[float]] = {name: [] for name in trees}

        def push(name: str, stamp: str) -> float:
            digest = restamp(blob, stamp)
            port = int(servers[name].host.rsplit(":", 1)[1])
            started = time.perf_counter()
            client.push_chunked(port, "ab/blob", blob, digest, args.chunk_mib * MIB)
            return args.mib / (time.perf_counter() - started)

        for name in trees:
            push(name, f"warm-{name}")
        for pair in range(args.pairs):
            order = list(trees) if pair % 2 == 0 else list(reversed(trees))
            for name in order:
                rates[name].append(push(name, f"{pair}-{name}"))
                print(f"pair {pair} {name}: {rates[name][-1]:.1f} MiB/s", flush=True)
        ratios = [new / base for new, base in zip(rates["new"], rates["base"], strict=True)]
        for name, values in rates.items():
            print(f"{name}: median {statistics.median(values):.1f} MiB/s", flush=True)
        won = sum(ratio > 1 for ratio in ratios)
        print(
            f"new / base: median {statistics.median(ratios):.2f} "
            f"(pairs {' '.join(f'{r:.2f}' for r in ratios)}; new faster in {won} of {len(ratios)})"
        )
    finally:
        for server in servers.values():
            server.stop()
        seaweed.stop()
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
