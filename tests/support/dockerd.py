"""Private container daemons for real-client tests: dockerd and containerd.

Each daemon gets its own short temporary root (unix socket paths must stay under
108 bytes), its own socket, data and state directories, and listens on nothing but
that socket. `stop()` is safe to call at any time, also after a failed start: it
stops the daemon, kills what it left behind (shims, containers) by process id,
unmounts whatever is still mounted under its root and deletes the root.

The Debian binaries are called by absolute path: a newer `docker` client may come
first on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.processes import children_by_parent

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"
CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
BUILDAH = "/usr/bin/buildah"

CGROUP_ROOT = Path("/sys/fs/cgroup")


def require(binary: str, package: str) -> str:
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{binary} is missing: install the Debian package {package}")
    return binary


def short_tmpdir(prefix: str) -> Path:
    """A fresh directory under /tmp: short enough for the sockets daemons put in it."""
    base = "/tmp" if os.path.isdir("/tmp") else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def run(
    command: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    log: Path | None = None,
    stdin: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run a client command with a timeout; on failure the error shows its output.

    `log` is a daemon's log file whose tail joins the error message; `stdin` is what the
    command reads (a password for `--password-stdin`), nothing by default.
    """
    try:
        result = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            input=stdin,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"timed out after {timeout}s: {' '.join(command)}\n"
            f"stdout:\n{_text(exc.stdout)}\nstderr:\n{_text(exc.stderr)}{_log_tail(log)}"
        ) from None
    if check and result.returncode != 0:
        raise AssertionError(
            f"exit {result.returncode}: {' '.join(command)}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}{_log_tail(log)}"
        )
    return result


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return value[-4000:]


def _log_tail(log: Path | None, size: int = 4000) -> str:
    if log is None or not log.exists():
        return ""
    return f"\n--- tail of {log} ---\n{log.read_text(errors='replace')[-size:]}"


# -- cleanup helpers ---------------------------------------------------------------------


def pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains `text` (a unique temporary path)."""
    needle = text.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def kill_pids(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def descendants(pids: Sequence[int]) -> list[int]:
    """All processes below `pids` (a shim's container processes, for instance)."""
    children = children_by_parent()
    found: list[int] = []
    pending = list(pids)
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.append(child)
                pending.append(child)
    return found


def unmount_under(root: Path) -> None:
    """Lazily unmount every mount point at or below `root`, deepest first."""
    prefix = str(root)
    for _ in range(3):
        points = []
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                point = line.split()[1].replace("\\040", " ")
                if point == prefix or point.startswith(prefix + "/"):
                    points.append(point)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(
                ["umount", "--lazy", point],
                capture_output=True,
                timeout=30,
                check=False,
            )


def stop_process_group(process: subprocess.Popen[bytes] | None, grace: float = 20) -> None:
    """SIGTERM a session leader's whole group, SIGKILL it if it lingers."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children in the group may outlive the leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _wait_gone(pids: Sequence[int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return
        time.sleep(0.1)


class _Daemon:
    """What both daemons share: a private root, a log, a cgroup parent, and `stop()`."""

    name = "daemon"

    def __init__(self, prefix: str) -> None:
        self.root = short_tmpdir(prefix)
        self.log_path = self.root / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        # Containers are put below this cgroup, so that `stop()` finds them.
        self.cgroup_parent = f"cargohold-test-{uuid.uuid4().hex[:12]}"

    def _spawn(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self.process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        finally:
            log.close()

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}{_log_tail(self.log_path)}"
            )

    def log_tail(self) -> str:
        return _log_tail(self.log_path)

    def _before_stop(self) -> None:
        """Daemon-specific tidying while the daemon still runs (best effort)."""

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                with contextlib.suppress(Exception):
                    self._before_stop()
            stop_process_group(self.process)
            # Shims and helpers run in sessions of their own but name our root; the
            # container processes are their children, or sit in our cgroups.
            leftovers = pids_mentioning(str(self.root))
            leftovers += descendants(leftovers)
            kill_pids(leftovers)
            _wait_gone(leftovers)
            self._remove_cgroups()
            unmount_under(self.root)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _cgroup_dirs(self) -> list[Path]:
        if not CGROUP_ROOT.is_dir():
            return []
        candidates = [CGROUP_ROOT / self.cgroup_parent]  # cgroup v2
        candidates += [c / self.cgroup_parent for c in CGROUP_ROOT.iterdir() if c.is_dir()]
        return [c for c in candidates if c.is_dir()]

    def _cgroup_pids(self) -> list[int]:
        pids: set[int] = set()
        for directory in self._cgroup_dirs():
            for procs in directory.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in procs.read_text().split())
        return sorted(pids)

    def _remove_cgroups(self) -> None:
        deadline = time.monotonic() + 15
        while (pids := self._cgroup_pids()) and time.monotonic() < deadline:
            kill_pids(pids)
            time.sleep(0.1)
        for directory in self._cgroup_dirs():
            subdirs = [p for p in directory.rglob("*") if p.is_dir()]
            for sub in sorted(subdirs, key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    sub.rmdir()
            with contextlib.suppress(OSError):
                directory.rmdir()


class DockerDaemon(_Daemon):
    """A private dockerd (Debian docker.io) on vfs, without bridge or iptables.

    dockerd starts its own containerd under the exec root. Containers go to a cgroup
    parent of their own, so that `stop()` can find and kill them.
    """

    name = "dockerd"

    def __init__(self, insecure_registries: Sequence[str] = ()) -> None:
        require(DOCKERD, "docker.io")
        require(DOCKER, "docker.io")
        super().__init__("chd-docker-")
        self.insecure_registries = list(insecure_registries)
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.socket = self.root / "docker.sock"
        self.client_config = self.root / "client"

    @property
    def env(self) -> dict[str, str]:
        """Environment for the docker CLI: our socket, our config, BuildKit."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DOCKER_") and k not in ("BUILDKIT_PROGRESS",)
        }
        env.update(
            DOCKER_HOST=f"unix://{self.socket}",
            DOCKER_CONFIG=str(self.client_config),
            DOCKER_BUILDKIT="1",
            BUILDKIT_PROGRESS="plain",
        )
        return env

    def start(self, timeout: float = 60) -> DockerDaemon:
        self.client_config.mkdir()
        (self.client_config / "config.json").write_text("{}")
        command = [
            DOCKERD,
            "--storage-driver",
            "vfs",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--bridge=none",
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "--host",
            f"unix://{self.socket}",
            "--cgroup-parent",
            self.cgroup_parent,
            "--userland-proxy=false",
        ]
        for registry in self.insecure_registries:
            command += ["--insecure-registry", registry]
        self._spawn(command)
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            probe = run([DOCKER, "version"], timeout=10, env=self.env, check=False)
            if probe.returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"dockerd did not answer in {timeout}s{self.log_tail()}")
            time.sleep(0.3)

    def docker(self, *args: str, timeout: float = 120, cwd: Path | None = None) -> str:
        return run(
            [DOCKER, *args], timeout=timeout, env=self.env, cwd=cwd, log=self.log_path
        ).stdout

    def attempt(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`docker <args>` that may fail: its exit status and output, for the test to judge."""
        return run([DOCKER, *args], timeout=timeout, env=self.env, check=False)

    def login(self, host: str, name: str, secret: str, check: bool = True) -> str:
        """`docker login` with the secret on standard input, as a CI step does; its output."""
        done = run(
            [DOCKER, "login", "--username", name, "--password-stdin", host],
            timeout=120,
            env=self.env,
            log=self.log_path,
            check=check,
            stdin=secret,
        )
        return done.stdout + done.stderr

    @property
    def config(self) -> dict[str, Any]:
        """The docker CLI's config.json (where `docker login` keeps what it signs in with)."""
        return json.loads((self.client_config / "config.json").read_text())  # type: ignore[no-any-return]

    def _before_stop(self) -> None:
        running = run([DOCKER, "ps", "-aq"], timeout=15, env=self.env, check=False)
        ids = running.stdout.split()
        if ids:
            run([DOCKER, "rm", "-f", *ids], timeout=60, env=self.env, check=False)


class ContainerdDaemon(_Daemon):
    """A private containerd (Debian containerd) with its own root, state and sockets."""

    name = "containerd"

    def __init__(self) -> None:
        require(CONTAINERD, "containerd")
        require(CTR, "containerd")
        super().__init__("chd-ctrd-")
        self.address = self.root / "c.sock"
        self.data_root = self.root / "root"
        self.state = self.root / "state"
        self.config = self.root / "config.toml"

    def start(self, timeout: float = 60) -> ContainerdDaemon:
        self.config.write_text(
            "\n".join(
                [
                    "version = 2",
                    f'root = "{self.data_root}"',
                    f'state = "{self.state}"',
                    # No Kubernetes CRI: it would want CNI and network setup.
                    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
                    "[grpc]",
                    f'  address = "{self.address}"',
                    "[ttrpc]",
                    f'  address = "{self.address}.ttrpc"',
                    "[debug]",
                    f'  address = "{self.root / "debug.sock"}"',
                    "[metrics]",
                    '  address = ""',
                    # Namespaces do not share content: a pull in a fresh namespace
                    # fetches every blob again instead of reusing another's.
                    '[plugins."io.containerd.metadata.v1.bolt"]',
                    '  content_sharing_policy = "isolated"',
                    "",
                ]
            )
        )
        self._spawn(
            [
                CONTAINERD,
                "--config",
                str(self.config),
                "--root",
                str(self.data_root),
                "--state",
                str(self.state),
                "--address",
                str(self.address),
            ]
        )
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            probe = run([CTR, "--address", str(self.address), "version"], timeout=10, check=False)
            if probe.returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"containerd did not answer in {timeout}s{self.log_tail()}")
            time.sleep(0.2)

    @property
    def env(self) -> dict[str, str]:
        """Environment for ctr: the native snapshotter (plain copies, like vfs), so
        pulls and runs need no overlayfs support from the host."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERD_")}
        env["CONTAINERD_SNAPSHOTTER"] = "native"
        return env

    def ctr(self, *args: str, namespace: str = "default", timeout: float = 120) -> str:
        return run(
            [CTR, "--address", str(self.address), "--namespace", namespace, *args],
            timeout=timeout,
            env=self.env,
            log=self.log_path,
        ).stdout

    def run_container(
        self, image: str, container_id: str, *command: str, namespace: str = "default"
    ) -> str:
        """`ctr run --rm`: the container's output. Its runc state stays under our root,
        its cgroup below ours, and its network namespace has nothing but loopback."""
        return self.ctr(
            "run",
            "--rm",
            "--runc-root",
            str(self.root / "runc"),
            "--cgroup",
            f"/{self.cgroup_parent}/{container_id}",
            image,
            container_id,
            *command,
            namespace=namespace,
        )

    def _before_stop(self) -> None:
        base = [CTR, "--address", str(self.address)]
        namespaces = run([*base, "namespaces", "ls", "-q"], timeout=15, check=False)
        for namespace in namespaces.stdout.split():
            tasks = run([*base, "-n", namespace, "tasks", "ls", "-q"], timeout=15, check=False)
            for task in tasks.stdout.split():
                run(
                    [*base, "-n", namespace, "tasks", "kill", "-a", "-s", "SIGKILL", task],
                    timeout=15,
                    check=False,
                )
                run([*base, "-n", namespace, "tasks", "delete", task], timeout=15, check=False)
