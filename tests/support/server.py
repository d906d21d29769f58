"""A real cargohold server process for tests, with its system admin's credentials."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from cargohold.config import Settings, load_settings
from cargohold.meta.database import Database
from cargohold.meta.db import make_engine
from cargohold.services.caller import system_caller
from cargohold.wiring_access import build_access_control
from tests.support.jsonlog import json_log
from tests.support.ports import free_port
from tests.support.processes import spawn, stop_group, wait_http_ready

CARGOHOLD = str(Path(sys.executable).with_name("cargohold"))
ADMIN = "admin"
ADMIN_PASSWORD_ENV = "CARGOHOLD_ADMIN_PASSWORD"
FIRST_START_LOGGER = "cargohold.first_start"
_token_names = itertools.count()
# One containers auth file for every server of the test run, each under its host:port: the
# test session points REGISTRY_AUTH_FILE at it (tests/conftest.py), so a `cargohold` CLI
# command a test runs signs in as that server's admin, as a user logged in with podman would.
AUTH_FILE = Path(tempfile.mkdtemp(prefix="cargohold-tests-")) / "auth.json"
_auth_file_lock = threading.Lock()


def _remember_login(host: str, name: str, secret: str) -> None:
    with _auth_file_lock:
        document = json.loads(AUTH_FILE.read_text()) if AUTH_FILE.exists() else {"auths": {}}
        entry = base64.b64encode(f"{name}:{secret}".encode()).decode()
        document["auths"][host] = {"auth": entry}
        AUTH_FILE.write_text(json.dumps(document))


class CargoholdServer:
    """`cargohold serve` on a free loopback port, with its own data directory.

    Its system admin is `admin_user` / `admin_password`: a password generated here and given
    through CARGOHOLD_ADMIN_PASSWORD, or the one passed in. `admin_password=""` lets the server
    generate it; `start` then reads it from the server's first-start log line."""

    admin_user = ADMIN

    def __init__(
        self,
        data_dir: Path,
        database_url: str = "",
        workers: int = 2,
        extra_env: dict[str, str] | None = None,
        scheme: str = "http",
        admin_password: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.data_dir = data_dir
        self.database_url = database_url
        self.workers = workers
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        # The first start creates the system admin `admin` with this password.
        self.admin_password = (
            secrets.token_urlsafe(18) if admin_password is None else admin_password
        )
        self._server_generates = admin_password == ""
        # A personal access token of the admin's, made after the first start: what tests log in
        # with (Basic admin:chpat_...). A password costs an argon2 check (tens of milliseconds,
        # on purpose) on every request; a token is one indexed lookup.
        self.admin_token = ""

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the form registry clients take."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def admin_auth(self) -> httpx.BasicAuth:
        """The system admin's Basic credentials (its personal access token)."""
        return httpx.BasicAuth(ADMIN, self.admin_token)

    @property
    def admin_authorization(self) -> str:
        """The admin's Authorization header value, for raw HTTP requests."""
        encoded = base64.b64encode(f"{ADMIN}:{self.admin_token}".encode()).decode()
        return f"Basic {encoded}"

    @property
    def admin_password_auth(self) -> httpx.BasicAuth:
        """The system admin's name and password (each request costs an argon2 check)."""
        return httpx.BasicAuth(ADMIN, self.admin_password)

    def client(self, auth: httpx.Auth | None = None, **options: object) -> httpx.Client:
        """An httpx client of this server, signed in as the admin unless `auth` says who."""
        return httpx.Client(base_url=self.url, auth=auth or self.admin_auth, **options)  # type: ignore[arg-type]

    @property
    def cli_env(self) -> dict[str, str]:
        """The environment for a `cargohold` CLI command signed in as the admin."""
        return {**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)}

    def settings(self) -> Settings:
        """The server's settings as its own variables give them (for setting up accounts in
        its stores, with its robot prefix, expiries and the rest)."""
        env = {k: v for k, v in self.extra_env.items() if k.startswith("CARGOHOLD_")}
        overrides = {"data_dir": str(self.data_dir), "database_url": self.database_url}
        return load_settings(env=env, overrides=overrides)

    def _ensure_admin_token(self) -> None:
        """Give the admin a personal access token in the server's store, once per data
        directory (made in its store, before anyone can sign in to make one through the API),
        and put it in the auth file."""
        if self.admin_token and self._answers(self.admin_auth):
            return
        with self.database() as database:
            users = build_access_control(self.settings(), database).users
            name = f"tests-{os.getpid()}-{next(_token_names)}-{time.time_ns()}"
            _, self.admin_token = users.create_access_token(
                ADMIN, name, None, system_caller("test-setup")
            )
        _remember_login(self.host, ADMIN, self.admin_token)

    @contextlib.contextmanager
    def database(self) -> Iterator[Database]:
        """The server's metadata store, opened from the test (for setting up what no request
        can make, such as records from long ago); closed on leaving."""
        engine = make_engine(self.settings().metadata_url)
        database = Database(engine)
        try:
            yield database
        finally:
            # Nothing of the server's data directory may stay open here (a test may unmount it).
            database.close()
            engine.dispose()

    def _answers(self, auth: httpx.Auth) -> bool:
        return httpx.get(f"{self.url}/v2/", auth=auth, timeout=30, verify=False).status_code == 200

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
        if self._server_generates and not self.admin_password:
            self.admin_password = self._generated_password()
        self.wait_ready()
        self._ensure_admin_token()
        return self

    def first_start_lines(self) -> list[str]:
        """The messages of the `cargohold.first_start` logger in the server's log so far."""
        return [
            str(entry["message"])
            for entry in json_log(self.log_path)
            if entry.get("logger") == FIRST_START_LOGGER
        ]

    def _generated_password(self, timeout: float = 30.0) -> str:
        """The password the first-start line shows (`... with the password PASSWORD (shown
        ...`), waited for: the server logs it before it serves."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            for message in self.first_start_lines():
                _, found, rest = message.partition(" with the password ")
                if found:
                    return rest.split(" ", 1)[0]
            time.sleep(0.1)
        raise AssertionError(f"no first-start password in the server's log: {self.log_path}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.process is not None
        wait_http_ready(
            self.process,
            f"{self.url}/v2/",
            self.log_path,
            "cargohold",
            timeout,
            auth=self.admin_password_auth,
        )

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
