"""What every blob driver must do: one suite, run against each driver.

A driver's test module subclasses `DriverSuite` and provides a `driver` fixture returning a
fresh, empty driver (tests/storage/test_filesystem_driver.py). Every case uses only the
`BlobDriver` interface, so a new backend is covered by adding that one fixture; the last cases
run the upload staging above the driver (services/staging.py) on it, so resumable uploads are
proven for each driver too.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from cargohold.errors import StagedGone
from cargohold.meta.db import make_engine, migrate
from cargohold.meta.store import MetadataStore
from cargohold.services.staging import UploadMoved, UploadStaging
from cargohold.storage.base import BlobDriver, WriterBusy
from tests.api.helpers import deterministic_bytes

# Over a megabyte and not a multiple of any power of two: reads cross chunk boundaries.
LARGE = 2 * 1024 * 1024 + 12345
# Past S3's 5 MiB minimum part size (and the S3 driver's 8 MiB chunks), not a multiple of it.
PAST_A_PART = 8 * 1024 * 1024 * 2 + 3 * 1024 * 1024 + 777

ESCAPING_DIGESTS = [
    "sha256:../../../../etc/passwd",
    "../sha256/aa/" + "a" * 64,
    "sha256:" + "a" * 63 + "/",
    "sha256/" + "a" * 64,
    "sha256:" + "A" * 64,
    "",
]
ESCAPING_NAMES = ["../escape", "a/b", ".hidden", "", "..", "/abs", "x" * 200, "a b", "a\x00b"]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def content(driver: BlobDriver, digest: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(driver.get(digest, start, end))


class DriverSuite:
    """Subclass as `Test<Name>Driver` and define two fixtures: `driver`, and `other_node`, a
    second instance of the driver over the same store (what another server node would
    build from the same settings)."""

    # -- whole objects ----------------------------------------------------------------

    def test_put_then_get_stat_list(self, driver: BlobDriver) -> None:
        data = b"hello blob"
        digest = digest_of(data)
        driver.put(digest, data)
        assert content(driver, digest) == data
        assert driver.stat(digest) == len(data)
        assert list(driver.list()) == [digest]

    def test_empty_object(self, driver: BlobDriver) -> None:
        digest = digest_of(b"")
        driver.put(digest, b"")
        assert driver.stat(digest) == 0
        assert content(driver, digest) == b""

    def test_missing_object(self, driver: BlobDriver) -> None:
        digest = digest_of(b"never stored")
        assert driver.stat(digest) is None
        with pytest.raises(FileNotFoundError):
            content(driver, digest)
        driver.delete(digest)  # nothing there: no error
        assert list(driver.list()) == []

    def test_ranges(self, driver: BlobDriver) -> None:
        data = deterministic_bytes(LARGE, b"ranges")
        digest = digest_of(data)
        driver.put(digest, data)
        assert content(driver, digest) == data
        assert content(driver, digest, 10) == data[10:]
        assert content(driver, digest, 0, 1) == data[:1]
        middle = (1024 * 1024 - 7, 1024 * 1024 + 9)  # across a megabyte boundary
        assert content(driver, digest, *middle) == data[middle[0] : middle[1]]
        assert content(driver, digest, LARGE - 5, LARGE) == data[-5:]
        assert content(driver, digest, LARGE - 5, LARGE + 100) == data[-5:]
        assert content(driver, digest, 7, 7) == b""

    def test_put_replaces_what_is_there(self, driver: BlobDriver) -> None:
        data = b"the real bytes"
        digest = digest_of(data)
        driver.put(digest, b"damaged")
        driver.put(digest, data)
        assert content(driver, digest) == data
        assert driver.stat(digest) == len(data)

    def test_delete_then_list(self, driver: BlobDriver) -> None:
        objects = {digest_of(bytes([i]) * (i + 1)): bytes([i]) * (i + 1) for i in range(5)}
        for digest, data in objects.items():
            driver.put(digest, data)
        assert sorted(driver.list()) == sorted(objects)
        gone = sorted(objects)[2]
        driver.delete(gone)
        assert driver.stat(gone) is None
        assert sorted(driver.list()) == sorted(set(objects) - {gone})
        assert all(content(driver, d) == objects[d] for d in objects if d != gone)

    def test_delete_many(self, driver: BlobDriver) -> None:
        objects = {digest_of(b"many %d" % i): b"many %d" % i for i in range(7)}
        for digest, data in objects.items():
            driver.put(digest, data)
        doomed = sorted(objects)[:5]
        never_stored = digest_of(b"never stored")
        assert driver.delete_many([*doomed, never_stored]) == []
        assert sorted(driver.list()) == sorted(set(objects) - set(doomed))
        assert driver.delete_many([]) == []
        with pytest.raises(ValueError):
            driver.delete_many(["sha256:../../etc/passwd"])

    @pytest.mark.parametrize("digest", ESCAPING_DIGESTS)
    def test_digests_cannot_escape(self, driver: BlobDriver, digest: str) -> None:
        with pytest.raises(ValueError):
            driver.put(digest, b"x")
        with pytest.raises(ValueError):
            driver.get(digest)
        with pytest.raises(ValueError):
            driver.stat(digest)
        with pytest.raises(ValueError):
            driver.delete(digest)
        writer = driver.writer("commit-target")
        with pytest.raises(ValueError):
            writer.commit(digest)
        writer.cancel()
        with pytest.raises(ValueError):
            driver.direct_writer(digest)
        assert list(driver.list()) == []

    # -- writers ----------------------------------------------------------------------

    @pytest.mark.parametrize("name", ESCAPING_NAMES)
    def test_staged_names_cannot_escape(self, driver: BlobDriver, name: str) -> None:
        with pytest.raises(ValueError):
            driver.writer(name)
        with pytest.raises(ValueError):
            driver.writer(name, append=True)

    def test_commit_makes_the_object_appear_whole(self, driver: BlobDriver) -> None:
        data = deterministic_bytes(LARGE, b"commit")
        digest = digest_of(data)
        writer = driver.writer("upload1")
        for start in range(0, LARGE, 300_000):
            writer.write(data[start : start + 300_000])
            assert driver.stat(digest) is None  # nothing visible before the commit
        assert writer.size == LARGE
        writer.commit(digest)
        assert driver.stat(digest) == LARGE
        assert content(driver, digest) == data
        assert [name for name, _ in driver.staged()] == []
        writer.close()  # after a commit: nothing to do, no error

    def test_append_across_reopen(self, driver: BlobDriver) -> None:
        first, second = b"a" * 1000, deterministic_bytes(400_000, b"second")
        writer = driver.writer("resumed")
        writer.write(first)
        writer.close()
        assert [name for name, _ in driver.staged()] == ["resumed"]
        again = driver.writer("resumed", append=True)
        assert again.size == len(first)
        assert b"".join(again.read()) == first
        again.write(second)
        assert again.size == len(first) + len(second)
        again.close()
        last = driver.writer("resumed", append=True)
        digest = digest_of(first + second)
        last.commit(digest)
        assert content(driver, digest) == first + second

    def test_large_upload_in_parts_across_writers(self, driver: BlobDriver) -> None:
        """Bytes past several of S3's parts, written in uneven pieces by three writers in
        turn, read back across part boundaries, trimmed inside a part, then committed."""
        data = deterministic_bytes(PAST_A_PART, b"parts")
        written = 0
        for piece in (3_000_001, 7_000_000, PAST_A_PART):
            writer = driver.writer("big", append=written > 0)
            assert writer.size == written
            writer.write(data[written : written + piece])
            written = min(written + piece, PAST_A_PART)
            writer.flush()
            writer.close()
        writer = driver.writer("big", append=True)
        assert writer.size == PAST_A_PART
        boundary = 8 * 1024 * 1024
        assert (
            b"".join(writer.read(boundary - 10, boundary + 10))
            == data[boundary - 10 : boundary + 10]
        )
        assert digest_of(b"".join(writer.read())) == digest_of(data)
        cut = boundary + 1234  # inside the second part: its first bytes are kept
        writer.truncate(cut)
        assert writer.size == cut
        writer.write(data[cut:])
        writer.commit(digest_of(data))
        assert driver.stat(digest_of(data)) == PAST_A_PART
        assert content(driver, digest_of(data)) == data
        assert (
            content(driver, digest_of(data), boundary - 3, boundary + 3)
            == data[boundary - 3 : boundary + 3]
        )
        assert [name for name, _ in driver.staged()] == []

    def test_writer_continued_on_another_node(
        self, driver: BlobDriver, other_node: BlobDriver
    ) -> None:
        first = deterministic_bytes(300_000, b"node one")
        writer = driver.writer("travelling")
        writer.write(first)
        writer.flush()
        with pytest.raises(WriterBusy):  # held on this node: refused on the other too
            other_node.writer("travelling", append=True)
        writer.close()
        assert [name for name, _ in other_node.staged()] == ["travelling"]
        again = other_node.writer("travelling", append=True)
        assert again.size == len(first)
        assert b"".join(again.read()) == first
        with pytest.raises(WriterBusy):
            driver.writer("travelling", append=True)
        again.write(b"and the rest")
        again.commit(digest_of(first + b"and the rest"))
        assert content(driver, digest_of(first + b"and the rest")) == first + b"and the rest"
        assert list(driver.staged()) == []

    def test_many_small_appends(self, driver: BlobDriver) -> None:
        """Chunked uploads of tiny PATCHes: every one kept, in order, whichever writer."""
        pieces = [b"piece %03d;" % i for i in range(40)]
        for i, piece in enumerate(pieces):
            writer = driver.writer("tiny", append=i > 0)
            writer.write(piece)
            writer.flush()
            writer.close()
        whole = b"".join(pieces)
        writer = driver.writer("tiny", append=True)
        assert writer.size == len(whole)
        assert b"".join(writer.read()) == whole
        writer.commit(digest_of(whole))
        assert content(driver, digest_of(whole)) == whole

    def test_append_to_unknown_name_starts_empty(self, driver: BlobDriver) -> None:
        writer = driver.writer("fresh", append=True)
        assert writer.size == 0
        writer.cancel()

    def test_writer_without_append_starts_over(self, driver: BlobDriver) -> None:
        writer = driver.writer("restart")
        writer.write(b"old bytes")
        writer.close()
        writer = driver.writer("restart")
        assert writer.size == 0
        writer.write(b"new")
        digest = digest_of(b"new")
        writer.commit(digest)
        assert content(driver, digest) == b"new"

    def test_truncate_then_write(self, driver: BlobDriver) -> None:
        writer = driver.writer("trimmed")
        writer.write(b"0123456789")
        writer.truncate(4)
        assert writer.size == 4
        writer.write(b"xy")
        assert b"".join(writer.read()) == b"0123xy"
        assert b"".join(writer.read(2, 5)) == b"23x"
        with pytest.raises(ValueError):
            writer.truncate(100)
        writer.close()
        reopened = driver.writer("trimmed", append=True)
        assert reopened.size == 6
        reopened.truncate(0)
        reopened.close()
        assert driver.writer("trimmed", append=True).size == 0

    def test_cancel_leaves_nothing(self, driver: BlobDriver) -> None:
        writer = driver.writer("cancelled")
        writer.write(b"some bytes")
        writer.cancel()
        writer.close()  # after a cancel: nothing to do, no error
        assert [name for name, _ in driver.staged()] == []
        assert list(driver.list()) == []
        assert driver.writer("cancelled", append=True).size == 0

    def test_commit_replaces_an_existing_object(self, driver: BlobDriver) -> None:
        data = b"complete content"
        digest = digest_of(data)
        driver.put(digest, b"partial")
        writer = driver.writer("replacing")
        writer.write(data)
        writer.commit(digest)
        assert content(driver, digest) == data
        assert driver.stat(digest) == len(data)

    def test_one_writer_per_staged_name(self, driver: BlobDriver) -> None:
        holder = driver.writer("contended")
        holder.write(b"mine")
        for append in (True, False):
            with pytest.raises(WriterBusy):
                driver.writer("contended", append=append)
        assert holder.size == 4  # a refused writer changed nothing
        other = driver.writer("another-name")  # other names are not held
        other.cancel()
        holder.close()
        after = driver.writer("contended", append=True)
        assert b"".join(after.read()) == b"mine"
        after.cancel()

    def test_staged_lists_names_with_their_write_time(self, driver: BlobDriver) -> None:
        before = time.time() - 5
        for name in ("one", "two"):
            writer = driver.writer(name)
            writer.write(name.encode())
            writer.close()
        staged = dict(driver.staged())
        assert sorted(staged) == ["one", "two"]
        assert all(before <= written <= time.time() + 5 for written in staged.values())
        assert list(driver.list()) == []  # staged bytes are not objects

    # -- direct writes (a whole blob whose digest is known) ------------------------------

    @pytest.mark.parametrize("size", [0, 3000, PAST_A_PART])
    def test_a_direct_write_appears_whole_at_commit(self, driver: BlobDriver, size: int) -> None:
        data = deterministic_bytes(size, b"direct")
        digest = digest_of(data)
        writer = driver.direct_writer(digest)
        for start in range(0, size, 1_000_000):
            writer.write(data[start : start + 1_000_000])
            assert driver.stat(digest) is None  # nothing visible before the commit
        writer.commit()
        assert driver.stat(digest) == size
        assert content(driver, digest) == data
        assert list(driver.list()) == [digest]
        assert list(driver.staged()) == []
        writer.cancel()  # after a commit: nothing to do, the object stays
        assert content(driver, digest) == data

    def test_a_cancelled_direct_write_changes_nothing(self, driver: BlobDriver) -> None:
        data = deterministic_bytes(PAST_A_PART, b"cancelled")
        digest = digest_of(data)
        driver.put(digest, b"what was there")
        writer = driver.direct_writer(digest)
        writer.write(data)
        writer.cancel()
        assert content(driver, digest) == b"what was there"
        assert list(driver.staged()) == []
        other = digest_of(b"never committed")
        driver.direct_writer(other).cancel()
        assert driver.stat(other) is None

    # -- upload staging on this driver -------------------------------------------------

    def test_opening_a_session_stages_nothing(
        self, driver: BlobDriver, staging: UploadStaging
    ) -> None:
        upload = staging.start("repo/app")
        assert list(driver.staged()) == []
        writer = staging.hold(upload)  # the first writer of the session starts it empty
        assert writer.size == 0
        writer.write(b"first bytes")
        writer.close()
        assert [name for name, _ in driver.staged()] == [upload.id]

    @pytest.fixture
    def staging(self, driver: BlobDriver, tmp_path: Path) -> UploadStaging:
        engine = make_engine(f"sqlite:///{tmp_path / 'staging.db'}")
        migrate(engine)
        return UploadStaging(MetadataStore(engine), driver, expiry_seconds=3600)

    def test_upload_resumes_in_another_process(
        self, driver: BlobDriver, staging: UploadStaging
    ) -> None:
        """A second staging (another process: no cached hash) continues the session, rebuilds
        the hash from the staged bytes and drops what a failed request wrote past the offset."""
        upload = staging.start("repo/app")
        writer = staging.hold(upload)
        writer.write(b"acknowledged")
        assert staging.meta.uploads.advance(upload.id, 0, 12)
        writer.write(b" but the request failed")  # never acknowledged
        writer.close()
        other = UploadStaging(staging.meta, driver, expiry_seconds=3600)
        upload = other.get("repo/app", upload.id)
        writer = other.hold(upload)
        assert writer.size == 12
        assert other.cached_hash(upload, "sha256") is None
        hasher = other.rebuild_hash(upload, writer, "sha256")
        assert "sha256:" + hasher.hexdigest() == digest_of(b"acknowledged")
        writer.write(b"!")
        writer.commit(digest_of(b"acknowledged!"))
        assert content(driver, digest_of(b"acknowledged!")) == b"acknowledged!"

    def test_upload_held_by_one_request(self, staging: UploadStaging) -> None:
        upload = staging.start("repo/app")
        writer = staging.hold(upload)
        with pytest.raises(WriterBusy):
            staging.hold(upload)
        writer.close()
        staging.hold(upload).close()

    def test_stale_request_cuts_nothing(self, staging: UploadStaging) -> None:
        """A request that read the session before another one advanced it is refused before
        it can cut the other's acknowledged bytes."""
        stale = staging.start("repo/app")
        writer = staging.hold(stale)
        writer.write(b"12345")
        assert staging.meta.uploads.advance(stale.id, 0, 5)
        writer.close()
        with pytest.raises(UploadMoved) as moved:
            staging.hold(stale)
        assert moved.value.offset == 5
        current = staging.get("repo/app", stale.id)
        assert staging.hold(current).size == 5

    def test_lost_staged_bytes_end_the_session(
        self, driver: BlobDriver, staging: UploadStaging
    ) -> None:
        upload = staging.start("repo/app")
        assert staging.meta.uploads.advance(upload.id, 0, 100)  # bytes a crash lost
        upload = staging.get("repo/app", upload.id)
        with pytest.raises(StagedGone):
            staging.hold(upload)
        assert staging.meta.uploads.get(upload.id) is None
        assert [name for name, _ in driver.staged()] == []

    def test_expiry_removes_orphans_but_not_held_ones(
        self, driver: BlobDriver, staging: UploadStaging
    ) -> None:
        session = staging.start("repo/app")
        for name in ("orphan", "held"):
            writer = driver.writer(name)
            writer.write(b"x")
            writer.close()
        held = driver.writer("held", append=True)
        staging.expiry_seconds = -60  # everything written so far counts as old
        assert staging.expire_idle() == 2  # the idle session and the orphan
        held.close()
        assert [name for name, _ in driver.staged()] == ["held"]
        assert staging.meta.uploads.get(session.id) is None
