"""How long a short `cargohold` command takes, start-up included: the whole process, timed from
outside, as a user waits for it.

Two commands, each run RUNS times after one untimed warm-up, alternating so drift hits both:

1. `cargohold --help` (no server: imports, building the command tree, rendering the help);
2. `cargohold repos --registry URL` against a scratch server (`cargohold serve`, 1 worker,
   SQLite, 20 small repositories) started here and stopped at the end.

Also, for the floor under both: `python -c pass` and `python -c "import typer, httpx"`; with
`--baseline-src DIR` (another checkout's `src`, e.g. `git archive REV src | tar -x -C DIR`), the
same two commands run from that code too, interleaved with the others.
Printed: min, median and max wall seconds per command, and the modules the CLI loads for
`--help` (`python -X importtime`, top 10 by cumulative time). Timings are never pass/fail.

Usage: .venv/bin/python bench/cli_startup.py [--runs 20] [--baseline-src DIR] [--json FILE]
       [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from procs import stop_all
from servers import REPO, cargohold_bin, start_cargohold

sys.path.insert(0, str(REPO))

from tests.support.oci import push_image

# What the `cargohold` console script does, for running another checkout's code.
_RUN_CLI = "import sys; from cargohold.cli.main import app; sys.exit(app())"


def _time_once(argv: list[str], env: dict[str, str] | None) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False, env=env
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]!r}")
    return elapsed


Command = tuple[list[str], dict[str, str] | None]  # argv, environment (None: this one)


def _measure(commands: dict[str, Command], runs: int) -> dict[str, list[float]]:
    for argv, env in commands.values():
        _time_once(argv, env)  # warm-up: page cache, .pyc files
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            times[name].append(_time_once(argv, env))
    return times


def _import_profile(cli: str) -> list[tuple[int, str]]:
    """(cumulative µs, module) of the 10 slowest top-level imports of `cargohold --help`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", cli, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):  # nested ones are indented
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:10]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline-src", type=Path, help="also time the CLI of this src folder")
    parser.add_argument("--json", type=Path, help="write every run's seconds here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()

    cli = cargohold_bin()
    scratch = Path(tempfile.mkdtemp(prefix="cargohold-cli-bench-"))
    try:
        # Auth off: the timed commands do not sign in (as before access control existed).
        server = start_cargohold(scratch, workers=1, auth=False)
        with httpx.Client(base_url=server.base, timeout=30) as client:
            for i in range(20):
                push_image(client, f"bench/app-{i}", "v1", layers=[f"layer {i}".encode()])
        os.environ["COLUMNS"] = "120"  # the same table layout whatever the terminal
        commands: dict[str, Command] = {
            "python -c pass": ([sys.executable, "-c", "pass"], None),
            "python -c 'import typer, httpx'": (
                [sys.executable, "-c", "import typer, httpx"],
                None,
            ),
            "cargohold --help": ([cli, "--help"], None),
            "cargohold repos --registry URL": ([cli, "repos", "--registry", server.base], None),
        }
        if args.baseline_src:
            env = {**os.environ, "PYTHONPATH": str(args.baseline_src.resolve())}
            run = [sys.executable, "-c", _RUN_CLI]
            commands["baseline: cargohold --help"] = ([*run, "--help"], env)
            commands["baseline: cargohold repos --registry URL"] = (
                [*run, "repos", "--registry", server.base],
                env,
            )
        times = _measure(commands, args.runs)
        profile = _import_profile(cli)
    finally:
        stop_all()
        if args.keep:
            print(f"scratch folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    load = os.getloadavg()
    print(f"{args.runs} runs each, alternating; load average {load[0]:.2f} {load[1]:.2f}")
    print(f"{'command':<44} {'min s':>7} {'median s':>9} {'max s':>7}")
    for name, values in times.items():
        low, mid, high = min(values), statistics.median(values), max(values)
        print(f"{name:<44} {low:>7.3f} {mid:>9.3f} {high:>7.3f}")
    print("\nslowest top-level imports of `cargohold --help` (cumulative ms):")
    for micros, name in profile:
        print(f"  {micros / 1000:7.1f}  {name}")
    if args.json:
        args.json.write_text(json.dumps({"runs": times, "imports": profile}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
