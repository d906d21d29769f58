"""The per-address lock of `cargohold serve` lives in a directory only its user may write: no
other local user can hold it (and so stop the server from starting) or plant a file there.

The lock's directories are put under a scratch root here (RUN_DIR and TMP_DIR), one that
other users may traverse, as /run and /tmp are."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
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


def _errno_as_nobody(path: Path, flags: int) -> int:
    """Open `path` and lock it as the user nobody, in a child process: the errno it fails
    with, or 0 when it holds the lock."""
    child = os.fork()
    if child == 0:  # the child only makes system calls, then leaves
        code = 0
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fcntl.flock(os.open(path, flags, 0o644), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            code = exc.errno or 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


@as_root
def test_another_user_can_neither_hold_the_lock_nor_make_one(root: Path) -> None:
    fd = lock_address("127.0.0.1", 5999)
    try:
        (lock,) = address_lock_dir().iterdir()
        assert _errno_as_nobody(lock, os.O_RDONLY) == errno.EACCES
        other = lock.with_name("serve-127.0.0.1_6000.lock")
        assert _errno_as_nobody(other, os.O_RDONLY | os.O_CREAT) == errno.EACCES
        assert not other.exists()
    finally:
        os.close(fd)
    # In the shared directory of before, anyone could hold it.
    shared = root / "tmp" / "cargohold-serve-127.0.0.1_5999.lock"
    shared.touch(mode=0o644)
    assert _errno_as_nobody(shared, os.O_RDONLY) == 0


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


def test_without_run_root_s_locks_go_to_a_private_directory_in_tmp(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_guard, "RUN_DIR", root / "no-run")
    assert address_lock_dir() == root / "tmp" / f"cargohold-{os.geteuid()}"
    assert _mode(address_lock_dir()) == 0o700
