"""A real cargohold server process for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import spawn, stop_group, wait_http_ready

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
        self.process = spawn(
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
            env,
            self.log_path,
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.process is not None
        wait_http_ready(self.process, f"{self.url}/v2/", self.log_path, "cargohold", timeout)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as an operator would do it."""
        stop_group(self.process)

    def kill9(self) -> None:
        """Kill the whole server process group without warning."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
