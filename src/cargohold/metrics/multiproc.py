"""The directory where a server's processes keep their metrics (prometheus-client's
multiprocess mode), one per server.

prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is first imported, and each process
writes its values to `<type>_<pid>.db` files there; a scrape merges every file. So the launcher
(launch.py) makes a fresh directory before it starts the workers, which inherit the variable,
and removes it when it stops: two servers on one machine never mix their counts, and a
restart starts from zero as Prometheus expects of a new process. A directory whose server died
without cleaning up (SIGKILL) is removed by the next server that starts on the machine.

Counters and histograms of a worker that died stay in its files and keep counting in the sum
(a respawned worker writes new files under its new pid). Gauges of the `livesum` kind (requests
in flight) must not: a scrape removes the files of workers that are gone (`reap_dead_workers`,
prometheus-client's `mark_process_dead`), and a worker removes its own on a clean stop.

No prometheus-client import at the top of this module: the launcher imports it, and the
variable must be set before prometheus-client is.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("cargohold.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "cargohold-metrics-"
_SERVER_DIR = re.compile(rf"{re.escape(PREFIX)}(\d+)-")
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def remove_abandoned(base: Path) -> list[Path]:
    """Remove the metrics directories of servers on this machine that are gone."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            match = _SERVER_DIR.match(entry.name)
            if match and entry.is_dir() and not process_alive(int(match.group(1))):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def create_server_dir(base: Path | None = None) -> Path:
    """A fresh directory for this server's metrics, named after this (the launcher's) process
    and set in the environment the workers inherit."""
    base = base or Path(tempfile.gettempdir())
    remove_abandoned(base)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    os.environ[ENV] = str(path)
    return path


def remove_server_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def ensure_server_dir() -> Path:
    """The directory the launcher made, or (an app built outside `cargohold serve`, as a test
    may) one for this process alone, removed when it exits."""
    existing = os.environ.get(ENV)
    if existing:
        return Path(existing)
    path = create_server_dir()
    atexit.register(remove_server_dir, path)
    return path


def reap_dead_workers(path: Path) -> list[int]:
    """Forget the live gauges of workers that are gone (their in-flight requests ended with
    them); their counters stay. Returns the pids reaped."""
    from prometheus_client.multiprocess import mark_process_dead

    reaped = set()
    for entry in path.glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.fullmatch(entry.name)
        if match:
            pid = int(match.group(1))
            if pid not in reaped and not process_alive(pid):
                mark_process_dead(pid, str(path))
                reaped.add(pid)
    return sorted(reaped)


def forget_this_process(path: Path) -> None:
    """A worker's clean stop: its live gauges go (its counters stay in the sum)."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(os.getpid(), str(path))
