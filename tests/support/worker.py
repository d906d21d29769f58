"""A real `cargohold worker` process for tests: background jobs without HTTP, on the stores
its settings name, with a JSON log the tests can read."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.jsonlog import json_log
from tests.support.processes import spawn, stop_group
from tests.support.server import CARGOHOLD

# What `cargohold worker` prints once its consumer runs.
READY_LINE = "cargohold worker: "


class CargoholdWorker:
    def __init__(
        self, data_dir: Path, extra_env: dict[str, str], database_url: str, threads: int = 2
    ) -> None:
        self.data_dir = data_dir
        self.extra_env = extra_env
        self.database_url = database_url
        self.threads = threads
        self.log_path = data_dir.parent / f"{data_dir.name}-worker.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> CargoholdWorker:
        env = {**os.environ, **self.extra_env, "CARGOHOLD_LOG_FORMAT": "json"}
        env["CARGOHOLD_DATABASE_URL"] = self.database_url
        self.process = spawn(
            [
                CARGOHOLD,
                "worker",
                "--data-dir",
                str(self.data_dir),
                "--threads",
                str(self.threads),
            ],
            env,
            self.log_path,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cargohold worker exited early; log:\n{self._text()}")
            if READY_LINE in self._text():
                return
            time.sleep(0.1)
        raise TimeoutError(f"cargohold worker did not start; log:\n{self._text()}")

    def _text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_entries(self) -> list[dict[str, Any]]:
        """The JSON lines of its log so far."""
        return json_log(self.log_path)

    def stop(self) -> None:
        stop_group(self.process)
