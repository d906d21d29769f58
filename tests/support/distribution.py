"""Debian's `docker-registry` (CNCF distribution 2.x) for tests that need a registry which is
not cargohold: anonymous, or behind htpasswd (bcrypt, made with `htpasswd -B`)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.support.ports import free_port
from tests.support.processes import spawn, stop_group, wait_http_ready

DOCKER_REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"


class Distribution:
    """One distribution on a free loopback port, its storage under `root` (deletes enabled),
    anonymous or, with `user`, behind htpasswd."""

    def __init__(self, root: Path, user: tuple[str, str] | None = None) -> None:
        self.root = root
        self.user = user
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "registry.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> Distribution:
        if not os.access(DOCKER_REGISTRY, os.X_OK):
            raise RuntimeError("docker-registry is missing: install the Debian package")
        storage = self.root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        auth_config = ""
        if self.user is not None:
            htpasswd = self.root / "htpasswd"
            line = subprocess.run(
                [HTPASSWD, "-Bbn", *self.user], capture_output=True, text=True, check=True
            ).stdout.strip()
            htpasswd.write_text(line + "\n")
            auth_config = f"auth:\n  htpasswd:\n    realm: cargohold-tests\n    path: {htpasswd}\n"
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n"
            "  level: info\n"
            "  accesslog:\n"
            "    disabled: false\n"
            "storage:\n"
            "  filesystem:\n"
            f"    rootdirectory: {storage}\n"
            "  delete:\n"
            "    enabled: true\n"
            "  maintenance:\n"
            "    uploadpurging:\n"
            "      enabled: false\n"
            "http:\n"
            f"  addr: {self.host}\n"
            "  secret: cargohold-tests-only\n" + auth_config
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.process = spawn([DOCKER_REGISTRY, "serve", str(config)], env, self.log_path)
        auth = httpx.BasicAuth(*self.user) if self.user else None
        wait_http_ready(
            self.process, f"{self.url}/v2/", self.log_path, "docker-registry", auth=auth
        )
        return self

    def stop(self) -> None:
        stop_group(self.process)

    def auth_file(self, path: Path) -> Path:
        """A containers auth file holding this registry's user."""
        assert self.user is not None
        token = base64.b64encode(":".join(self.user).encode()).decode()
        path.write_text(json.dumps({"auths": {self.host: {"auth": token}}}))
        return path
