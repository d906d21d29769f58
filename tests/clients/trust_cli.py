"""Running `cargohold generate-key-pair`, `sign` and `verify` as a CI job would: a key pair
made by the CLI, the password in COSIGN_PASSWORD, the registry credentials from the auth
file `skopeo login` wrote (podman's and skopeo's, which the CLI reads)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import CARGOHOLD

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class TrustCli:
    home: Path
    authfile: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGOHOLD_", "COSIGN_"))}
        env.update(COSIGN_PASSWORD=PASSWORD, REGISTRY_AUTH_FILE=str(self.authfile), COLUMNS="200")
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CARGOHOLD, *args],
            cwd=self.home,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def refused(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command that must fail with one line on stderr and exit status 1."""
        done = self.run(*args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        return done

    def key_pair(self, prefix: str) -> tuple[Path, Path]:
        self.ok("generate-key-pair", "--output-key-prefix", prefix)
        return self.home / f"{prefix}.key", self.home / f"{prefix}.pub"
