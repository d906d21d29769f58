"""A real cargohold server process for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.ports import free_port

CARGOHOLD = str(Path(sys.executable).with_name("cargohold"))


class CargoholdServer:
    """`cargohold serve` on a free loopback port, with its own data directory."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str = "",
        workers: int = 2,
        extra_env: dict[str, str] | None = None,
        scheme: str = "http",
    ) -> None:
        self.scheme = scheme
        self.data_dir = data_dir
        self.database_url = database_url
        self.workers = workers
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the form registry clients take."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def start(self) -> CargoholdServer:
        env = {**os.environ, **self.extra_env}
        env["CARGOHOLD_LOG_FORMAT"] = "json"
        if self.database_url:
            env["CARGOHOLD_DATABASE_URL"] = self.database_url
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                CARGOHOLD,
                "serve",
                "--addr",
                self.host,
                "--data-dir",
                str(self.data_dir),
                "--workers",
                str(self.workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"cargohold exited early; log:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1, verify=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"cargohold did not start; log:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as an operator would do it."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill9(self) -> None:
        """Kill the whole server process group without warning."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
