"""A throwaway PostgreSQL server on loopback, run as the `postgres` user."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port, wait_for_port


def _pg_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
    return found[-1]


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cargohold-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> PostgresServer:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            _pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server over its data (after `start`, or again after `pause`)."""
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c unix_socket_directories={self.root} -c max_connections=300"
        )
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        wait_for_port(self.port)

    def pause(self) -> None:
        """Stop the server as a crash would (`-m immediate`), keeping its data for `resume`."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def create_database(self, name: str) -> str:
        self._run(
            _pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self.pause()
        except subprocess.CalledProcessError:
            pass  # already stopped (a test paused it and failed before resuming)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
