"""Server processes for tests: start with a log file, wait for HTTP, stop the whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx


def spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `command` in its own process group, output appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_http_ready(
    process: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    name: str,
    timeout: float = 30,
    auth: httpx.Auth | None = None,
) -> None:
    """Wait until `url` answers 200 (asked with `auth`); fail with the server's log if it
    exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early; log:\n{log_path.read_text()}")
        try:
            if httpx.get(url, timeout=1, verify=False, auth=auth).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_group(process)
    raise TimeoutError(f"{name} did not start; log:\n{log_path.read_text()}")


def stop_group(process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def children_by_parent() -> dict[int, list[int]]:
    """Every process on the machine, grouped under its parent's pid (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children
