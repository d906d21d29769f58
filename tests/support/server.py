"""A real cargohold server process for tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import spawn, stop_group, wait_http_ready

CARGOHOLD = str(Path(sys.executable).with_name("cargohold"))
ADMIN_PASSWORD_ENV = "CARGOHOLD_ADMIN_PASSWORD"
FIRST_START_LOGGER = "cargohold.first_start"


class CargoholdServer:
    """`cargohold serve` on a free loopback port, with its own data directory.

    Its system admin is `admin_user` / `admin_password`: a password generated here and given
    through CARGOHOLD_ADMIN_PASSWORD, or the one passed in. `admin_password=""` lets the server
    generate it; `start` then reads it from the server's first-start log line."""

    admin_user = "admin"

    def __init__(
        self,
        data_dir: Path,
        database_url: str = "",
        workers: int = 2,
        extra_env: dict[str, str] | None = None,
        scheme: str = "http",
        admin_password: str | None = None,
    ) -> None:
        self.admin_password = (
            secrets.token_urlsafe(18) if admin_password is None else admin_password
        )
        self._server_generates = admin_password == ""
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

    @property
    def admin_auth(self) -> tuple[str, str]:
        """The system admin's Basic credentials (httpx's `auth=`)."""
        return self.admin_user, self.admin_password

    def first_start_lines(self) -> list[str]:
        """The messages of the `cargohold.first_start` logger in the server's log so far."""
        if not self.log_path.exists():
            return []
        found = []
        for line in self.log_path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("logger") == FIRST_START_LOGGER:
                found.append(str(entry["message"]))
        return found

    def start(self) -> CargoholdServer:
        env = {**os.environ, **self.extra_env}
        env["CARGOHOLD_LOG_FORMAT"] = "json"
        env.pop(ADMIN_PASSWORD_ENV, None)
        if not self._server_generates:
            env[ADMIN_PASSWORD_ENV] = self.admin_password
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
        if self._server_generates and not self.admin_password:
            self.admin_password = _generated_password(self.first_start_lines())
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


def _generated_password(messages: list[str]) -> str:
    """The password the first-start line shows: `... with the password PASSWORD (shown ...`."""
    for message in messages:
        _, found, rest = message.partition(" with the password ")
        if found:
            return rest.split(" ", 1)[0]
    raise AssertionError(f"no first-start password in the server's log: {messages}")
