"""Free loopback ports and waiting for a listener."""

from __future__ import annotations

import os
import socket
import time


def free_port() -> int:
    """A loopback port nothing listens on. Under pytest-xdist each worker takes only its own
    share of the ports, so two workers never pick the same port in the moment between this
    check and their server's bind. The share goes by the port halved: Linux hands out odd
    ports to bind(0) (even ones to connect), so the port's own remainder would leave worker 0
    with none."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if (port >> 1) % workers == worker % workers:
            return port
    raise RuntimeError(f"no free loopback port for worker {worker} of {workers}")


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")
