"""What `cargohold serve` refuses before it starts: a taken address, a data directory in use,
and access control turned off on an address other machines can reach.

granian binds every worker's socket with SO_REUSEPORT and offers no way to turn that off, so
a second server on a busy port would start without a word and the kernel would split the
connections between the two, and a port held by another program makes granian fail with a
long native traceback. Both are checked here, in the CLI process, before `exec`. A probe bind
alone leaves a window (migrations and the first admin run before granian binds) in which two
servers started at once both find the port free: a lock per address, held for the server's
life, closes it. The kernel lets sockets share a port with SO_REUSEPORT only within one user,
so the lock keeps one user's servers apart and lives where no other user can take it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import socket
import stat
from pathlib import Path

LOCK_NAME = "serve.lock"
# Where the per-address locks' directories live (address_lock_dir): fixed, not taken from the
# environment, so that every server of a user finds the same one.
RUN_DIR = Path("/run")
TMP_DIR = Path("/tmp")


class StartRefused(OSError):
    """The server must not start; the message is one line for the operator."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ensure_address_free(host: str, port: int) -> None:
    """Bind the address once without SO_REUSEPORT: that fails if any socket holds it.

    SO_REUSEADDR lets the probe ignore connections of a stopped server in TIME_WAIT, which a
    restart on the same port must not trip over; a listening socket still makes it fail.
    """
    address = _address(host, port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartRefused(f"cannot listen on {address}: {exc.strerror}") from None
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartRefused(
                    f"{address} is already in use (by another cargohold server or another "
                    "program); choose another --addr, or set reuse_port = true to let cargohold "
                    "servers that share their stores share the port"
                ) from None
            raise StartRefused(f"cannot listen on {address}: {exc.strerror}") from None


def address_lock_dir() -> Path:
    """The directory of this user's per-address locks, on this machine (not a home directory
    another machine may share) and one no other user may write: `/run/cargohold` for root,
    `/run/user/<uid>/cargohold` for a user with a runtime directory (a login session's, made
    by systemd-logind); else (a read-only /run, a service account without a session, a
    container's user) `/tmp/cargohold-<uid>`. Made when missing (mode 0700); refused when it
    is not a directory of this user's that only they may write (in /tmp, another user may
    have made it first)."""
    uid = os.geteuid()
    runtime = RUN_DIR if uid == 0 else RUN_DIR / "user" / str(uid)
    try:
        found: Path | None = _private_dir(runtime / "cargohold", uid)
    except StartRefused:
        raise
    except OSError:
        found = None  # no such directory, or not writable: every server of this user falls back
    if found is not None and os.access(found, os.W_OK):
        return found
    return _private_dir(TMP_DIR / f"cargohold-{uid}", uid)


def _private_dir(path: Path, uid: int) -> Path:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != uid or found.st_mode & 0o022:
        raise StartRefused(
            f"{path} is not a directory of this user's that only they may write (it holds the "
            "locks of the addresses cargohold serves on): remove it and start again"
        )
    return path


def lock_address(host: str, port: int) -> int:
    """Hold an exclusive lock named after the address for the rest of this process's life
    (inherited through the `exec`, like the data directory's): a cargohold server starting on
    the same address meanwhile is refused, however close together the two start. Returns the
    descriptor."""
    name = _address(host, port).replace("[", "").replace("]", "").replace(":", "_")
    try:
        path = address_lock_dir() / f"serve-{name}.lock"
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except StartRefused:
        raise
    except OSError as exc:
        where = exc.filename or "the address lock"
        raise StartRefused(f"cannot create {where}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StartRefused(
            f"{_address(host, port)} is already in use by another cargohold server (starting or "
            "running); choose another --addr, or set reuse_port = true to let cargohold servers "
            "that share their stores share the port"
        ) from None
    os.set_inheritable(fd, True)
    return fd


def lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock on `data_dir/serve.lock` for the rest of this process's life.

    The descriptor survives the `exec` into the launcher (and is inherited by its workers),
    so the lock is held exactly as long as the server runs; the kernel drops it when the
    last of them exits, however it exits. Returns the descriptor.
    """
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (pid {int(os.pread(fd, 32, 0).split()[0])})"
        os.close(fd)
        raise StartRefused(
            f"data directory {data_dir.resolve()} is in use by another cargohold server"
            f"{holder}; one server serves a data directory: give it more processes with "
            "--workers, and run background jobs apart with `cargohold worker`"
        ) from None
    # Who holds it, for the message above; a full disk must not stop the server here.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    os.set_inheritable(fd, True)
    return fd


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach an address: `localhost` or a loopback IP."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other host name may resolve to a reachable address


def refuse_open_access(auth: str, host: str, port: int) -> None:
    """`auth = "off"` lets anyone push and delete: allowed on a loopback address only."""
    if auth == "off" and not is_loopback(host):
        raise StartRefused(
            f"auth = off is for local experiments only and {_address(host, port)} is not a "
            "loopback address: listen on 127.0.0.1 (or ::1), or turn auth on"
        )
