"""skopeo, run the way the tests run it: its own policy, registries.conf, registries.d and auth
file under a home of its own, so nothing on the host (mirrors, credential helpers, signature
lookaside stores) can send it elsewhere than 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.accounts import Login

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"
# One skopeo command, however slow the machine, finishes well within this.
SKOPEO_TIMEOUT = 120


@dataclass
class Skopeo:
    """Runs skopeo with a private, permissive policy and no host configuration."""

    home: Path

    @property
    def policy(self) -> Path:
        return self.home / "policy.json"

    def setup(self) -> Skopeo:
        self.home.mkdir(parents=True, exist_ok=True)
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        (self.home / "registries.d").mkdir(exist_ok=True)
        (self.home / "registries.conf").write_text("unqualified-search-registries = []\n")
        self.authfile.write_text(json.dumps({"auths": {}}))
        return self

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.endswith("_proxy") and not k.endswith("_PROXY")
        }
        env.update(
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(self.home),
            XDG_CONFIG_HOME=str(self.home / "config"),
            REGISTRIES_CONFIG_PATH=str(self.home / "registries.conf"),
            REGISTRY_AUTH_FILE=str(self.authfile),
            TMPDIR=str(self.home),
            NO_PROXY="127.0.0.1",
        )
        return env

    @property
    def authfile(self) -> Path:
        """The containers auth file `skopeo login` writes and every command reads."""
        return self.home / "auth.json"

    def login(self, host: str, login: Login, *options: str) -> str:
        """`skopeo login` with the secret on standard input, as a script would; its output."""
        done = self.run(
            "login",
            "--tls-verify=false",
            *options,
            "--username",
            login.name,
            "--password-stdin",
            host,
            stdin=login.secret.encode(),
        )
        return done.stdout.decode()

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = SKOPEO_TIMEOUT,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """`skopeo <args>`. Fails the test (with stderr) when skopeo fails and `check`."""
        command = [
            SKOPEO,
            "--policy",
            str(self.policy),
            "--registries.d",
            str(self.home / "registries.d"),
            "--command-timeout",
            f"{int(timeout)}s",
            *args,
        ]
        try:
            done = subprocess.run(
                command,
                env=self.env(),
                capture_output=True,
                timeout=timeout + 10,
                input=stdin if stdin is not None else b"",
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"skopeo timed out after {timeout}s: {' '.join(command)}\n{exc.stderr!r}")
        if check and done.returncode != 0:
            pytest.fail(
                f"skopeo failed ({done.returncode}): {' '.join(command)}\n"
                f"stdout:\n{done.stdout.decode(errors='replace')}\n"
                f"stderr:\n{done.stderr.decode(errors='replace')}"
            )
        return done

    def copy(
        self, source: str, dest: str, *options: str, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """`skopeo copy` with TLS verification off on both sides (plain HTTP on loopback)."""
        return self.run(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--retry-times",
            "0",
            *options,
            source,
            dest,
            check=check,
        )

    def inspect_raw(self, image: str, *options: str) -> bytes:
        return self.run("inspect", "--tls-verify=false", "--raw", *options, image).stdout

    def inspect(self, image: str, *options: str) -> dict[str, object]:
        return json.loads(self.run("inspect", "--tls-verify=false", *options, image).stdout)
