"""Server processes for the benchmark: start in their own process group, measure, kill.

Everything here reads /proc directly: the process tree (by parent pid), CPU seconds
(utime + stime of every live process in the tree) and peak RSS (sum of VmHWM).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Every server started by this module, so that an error anywhere still kills them all.
_STARTED: list[ServerProc] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces; it is enclosed in parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """utime + stime summed over the live process tree of `root`."""
    total = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # After the state field: utime and stime are fields 14 and 15 of the full line.
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def reaped_cpu_seconds(pid: int) -> float:
    """cutime + cstime of `pid`: the CPU seconds of its children that exited and were waited
    for (a PostgreSQL postmaster's closed backends)."""
    fields = _stat_fields(pid)
    # After the state field: cutime and cstime are fields 16 and 17 of the full line.
    return (int(fields[13]) + int(fields[14])) / CLK_TCK if fields is not None else 0.0


def peak_rss_per_process(root: int) -> list[float]:
    """VmHWM (MiB) of each live process in the tree of `root`, the root first."""
    out = []
    for pid in process_tree(root):
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                out.append(int(line.split()[1]) / 1024)
                break
    return out


def pss_mib(root: int) -> float:
    """Sum of Pss (MiB, now) over the process tree: shared pages (PostgreSQL's shared buffers)
    are split among the processes that map them instead of counted in each."""
    total = 0
    for pid in process_tree(root):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
    return total / 1024


def peak_rss_mib(root: int) -> tuple[float, int]:
    """Sum of VmHWM over the process tree (MiB) and the number of processes counted."""
    per = peak_rss_per_process(root)
    return sum(per), len(per)


class ServerProc:
    """A server started in a new session (its own process group)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        _STARTED.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/v2/", timeout: float = 60.0) -> None:
        """Poll until `path` answers with any HTTP status (the server is accepting)."""
        deadline = time.monotonic() + timeout
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.sendall(request.encode())
                    if s.recv(16).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mib(self) -> tuple[float, int]:
        return peak_rss_mib(self.pid)

    def stop(self, grace: float = 5.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # The group may still hold children even after the leader exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace)
        self._log.close()
        if self in _STARTED:
            _STARTED.remove(self)


def stop_all() -> None:
    for server in list(_STARTED):
        server.stop()
