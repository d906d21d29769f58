"""The per-address lock of `cargohold serve` lives in a directory only its user may write: no
other local user can hold it (and so stop the server from starting) or plant a file there.

The lock's directories are put under a scratch root here (RUN_DIR and TMP_DIR), one that
other users may traverse, as /run and /tmp are."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cargohold import serve_guard
from cargohold.serve_guard import StartRefused, address_lock_dir, lock_address

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user needs root")


@pytest.fixture(name="root")
def scratch_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="cargohold-lock-test-"))
    base.chmod(0o755)  # traversable by anyone, as /run and /tmp are
    (base / "run").mkdir(mode=0o755)
    (base / "tmp").mkdir()
    (base / "tmp").chmod(0o1777)
    monkeypatch.setattr(serve_guard, "RUN_DIR", base / "run")
    monkeypatch.setattr(serve_guard, "TMP_DIR", base / "tmp")
    (base / "run" / "user").mkdir(mode=0o755)
    yield base
    shutil.rmtree(base)


def _lock_dir(root: Path) -> Path:
    """Where this user's locks go under the scratch root."""
    uid = os.geteuid()
    return root / "run" / "cargohold" if uid == 0 else root / "tmp" / f"cargohold-{uid}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_lock_is_made_private_and_keeps_a_second_server_out(root: Path) -> None:
    fd = lock_address("127.0.0.1", 5999)
    try:
        where = address_lock_dir()
        assert where == _lock_dir(root)
        assert _mode(where) == 0o700 and os.lstat(where).st_uid == os.geteuid()
        (lock,) = where.iterdir()
        assert _mode(lock) == 0o600
        with pytest.raises(StartRefused, match="already in use by another cargohold server"):
            lock_address("127.0.0.1", 5999)
        os.close(lock_address("127.0.0.1", 6000))  # another address is another lock
    finally:
        os.close(fd)
    os.close(lock_address("127.0.0.1", 5999))  # free once its holder is gone


def _as_nobody(act: Callable[[], object]) -> str:
    """What `act` returns, or the error it raises, run as the user nobody in a child process
    (which only makes system calls and leaves)."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reading)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            said = str(act())
        except Exception as exc:  # the child reports any failure and leaves
            said = f"{type(exc).__name__}: {exc}"
        os.write(writing, said.encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as answer:
        said = answer.read().decode()
    os.waitpid(child, 0)
    return said


def _hold(path: Path, flags: int) -> Callable[[], object]:
    return lambda: fcntl.flock(os.open(path, flags, 0o644), fcntl.LOCK_EX | fcntl.LOCK_NB)


@as_root
def test_another_user_can_neither_hold_the_lock_nor_make_one(root: Path) -> None:
    fd = lock_address("127.0.0.1", 5999)
    try:
        (lock,) = address_lock_dir().iterdir()
        assert _as_nobody(_hold(lock, os.O_RDONLY)).startswith("PermissionError")
        other = lock.with_name("serve-127.0.0.1_6000.lock")
        assert _as_nobody(_hold(other, os.O_RDONLY | os.O_CREAT)).startswith("PermissionError")
        assert not other.exists()
    finally:
        os.close(fd)
    # In the shared directory of before, anyone could hold it.
    shared = root / "tmp" / "cargohold-serve-127.0.0.1_5999.lock"
    shared.touch(mode=0o644)
    assert _as_nobody(_hold(shared, os.O_RDONLY)) == "None"


@as_root
def test_a_user_with_a_runtime_directory_is_not_stopped_by_a_directory_planted_in_tmp(
    root: Path,
) -> None:
    planted = root / "tmp" / f"cargohold-{NOBODY}"
    planted.mkdir(mode=0o700)  # root's, made before nobody's first server
    runtime = root / "run" / "user" / str(NOBODY)  # what systemd-logind makes for a session
    runtime.mkdir(mode=0o700)
    os.chown(runtime, NOBODY, NOBODY)

    def start() -> str:
        os.close(lock_address("127.0.0.1", 5999))
        return str(address_lock_dir())

    assert _as_nobody(start) == str(runtime / "cargohold")
    assert _mode(runtime / "cargohold") == 0o700
    # Without one (a service account with no session), the planted directory is refused, in
    # words an administrator can act on.
    shutil.rmtree(runtime)
    said = _as_nobody(start)
    assert said.startswith(f"StartRefused: {planted} is not a directory of this user's"), said
    assert said.endswith("remove it and start again")


@as_root
def test_root_falls_back_to_tmp_when_run_cannot_be_written(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "run" / "cargohold").mkdir(mode=0o700)  # there, on a file system now read-only
    real_access = os.access

    def read_only_run(path: object, mode: int, **kwargs: object) -> bool:
        if mode == os.W_OK and str(path).startswith(str(root / "run")):
            return False
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", read_only_run)
    assert address_lock_dir() == root / "tmp" / "cargohold-0"


def test_a_lock_directory_others_may_write_is_refused(root: Path) -> None:
    where = address_lock_dir()
    where.chmod(0o777)
    with pytest.raises(StartRefused, match=f"{where} is not a directory of this user's"):
        lock_address("127.0.0.1", 5999)


@as_root
def test_a_lock_directory_another_user_made_first_is_refused(root: Path) -> None:
    where = root / "run" / "cargohold"
    where.mkdir(mode=0o700)
    os.chown(where, NOBODY, NOBODY)
    with pytest.raises(StartRefused, match="remove it and start again"):
        lock_address("127.0.0.1", 5999)


def test_a_link_in_place_of_the_lock_directory_is_refused(root: Path) -> None:
    elsewhere = root / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    where = _lock_dir(root)
    where.symlink_to(elsewhere)
    with pytest.raises(StartRefused, match="is not a directory of this user's"):
        lock_address("127.0.0.1", 5999)
    assert list(elsewhere.iterdir()) == []


def test_without_run_locks_go_to_a_private_directory_in_tmp(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_guard, "RUN_DIR", root / "no-run")
    assert address_lock_dir() == root / "tmp" / f"cargohold-{os.geteuid()}"
    assert _mode(address_lock_dir()) == 0o700
