"""The filesystem driver: the shared driver suite, plus what only a filesystem has."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from cargohold.storage import filesystem
from cargohold.storage.base import LocalFiles, WriterBusy
from cargohold.storage.filesystem import FilesystemBlobStore
from tests.storage.driver_suite import DriverSuite, content, digest_of


class TestFilesystemDriver(DriverSuite):
    @pytest.fixture
    def driver(self, tmp_path: Path) -> FilesystemBlobStore:
        return FilesystemBlobStore(tmp_path / "blobs")

    @pytest.fixture
    def other_node(self, tmp_path: Path) -> FilesystemBlobStore:
        return FilesystemBlobStore(tmp_path / "blobs")


def test_layout_on_disk_is_unchanged(tmp_path: Path) -> None:
    """Existing data directories keep working: `blobs/<alg>/<2 hex>/<hex>`, `uploads/<id>`."""
    driver = FilesystemBlobStore(tmp_path)
    data = b"layout"
    digest = digest_of(data)
    hexpart = digest.split(":", 1)[1]
    writer = driver.writer("0123456789abcdef0123456789abcdef")
    writer.write(data)
    writer.close()
    assert (tmp_path / "uploads" / "0123456789abcdef0123456789abcdef").read_bytes() == data
    driver.writer("0123456789abcdef0123456789abcdef", append=True).commit(digest)
    assert (tmp_path / "blobs" / "sha256" / hexpart[:2] / hexpart).read_bytes() == data
    assert not (tmp_path / "uploads" / "0123456789abcdef0123456789abcdef").exists()


def test_objects_are_local_files(tmp_path: Path) -> None:
    driver = FilesystemBlobStore(tmp_path)
    assert isinstance(driver, LocalFiles)
    digest = digest_of(b"sent as a file")
    driver.put(digest, b"sent as a file")
    assert Path(driver.path_of(digest)).read_bytes() == b"sent as a file"
    with pytest.raises(ValueError):
        driver.path_of("sha256:../../etc/passwd")


@pytest.mark.parametrize("ending", ["commit", "cancel"])
def test_a_writer_of_a_name_ended_meanwhile_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    """A writer that opened the staged file just before its holder committed or cancelled it
    must not write into that file (it is the blob now, or gone): it is refused as busy.

    The interleaving is forced: the holder ends its writer between the second writer's open
    and its lock, the window two processes can hit."""
    driver = FilesystemBlobStore(tmp_path)
    holder = driver.writer("raced")
    holder.write(b"abc")
    real_flock = fcntl.flock

    def holder_ends_first(fd: int, operation: int) -> None:
        if ending == "commit":
            holder.commit(digest_of(b"abc"))
        else:
            holder.cancel()
        real_flock(fd, operation)

    monkeypatch.setattr(filesystem.fcntl, "flock", holder_ends_first)
    with pytest.raises(WriterBusy):
        driver.writer("raced", append=True)
    monkeypatch.undo()
    # Nothing was written into the ended file, and no staged file was left behind.
    if ending == "commit":
        assert content(driver, digest_of(b"abc")) == b"abc"
    else:
        assert driver.stat(digest_of(b"abc")) is None
    assert not (tmp_path / "uploads" / "raced").exists()


def test_unrelated_files_in_staging_are_ignored(tmp_path: Path) -> None:
    driver = FilesystemBlobStore(tmp_path)
    (tmp_path / "uploads" / ".nfs-leftover").write_bytes(b"x")
    (tmp_path / "uploads" / "lost+found").mkdir()
    assert list(driver.staged()) == []


def test_busy_is_per_open_file_across_processes(tmp_path: Path) -> None:
    """A writer held by another process (a second server worker) refuses this one."""
    driver = FilesystemBlobStore(tmp_path)
    holder = driver.writer("shared")
    holder.write(b"x")
    pid = os.fork()
    if pid == 0:  # the child: another process asking for the same name
        code = 1
        try:
            FilesystemBlobStore(tmp_path).writer("shared", append=True)
        except WriterBusy:
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    holder.close()
    assert os.waitstatus_to_exitcode(status) == 0
