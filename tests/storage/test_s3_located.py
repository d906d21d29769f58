"""Located uploads on a real S3 server (SeaweedFS): a chunked upload is completed where its
parts went and a `blob_locations` row points the digest there, so the commit copies nothing
(storage/s3/located.py, decision 055). The shared driver suite runs on this writer too
(test_s3_driver.py); these are what only it has: no copy, what a read back or a cut costs,
and that every located object is named by the session or a row until it goes."""

from __future__ import annotations

import uuid

import pytest

from cargohold.meta.store import MetadataStore
from cargohold.storage.s3 import S3BlobStore
from cargohold.storage.s3.writer import PART_SIZE
from tests.api.helpers import deterministic_bytes
from tests.storage.driver_suite import content, digest_of
from tests.storage.store_calls import Calls
from tests.support.seaweedfs import SeaweedServer, keys_under, multipart_keys

MiB = 1024 * 1024


@pytest.fixture
def prefix() -> str:
    return f"located-{uuid.uuid4().hex[:12]}"


# These tests are about what a writer finds in the bucket, so each writer here loads its
# session from there: no writer stays parked past its close (test_s3_parked.py has those).


@pytest.fixture
def store(seaweedfs: SeaweedServer, prefix: str, locations: MetadataStore) -> S3BlobStore:
    return seaweedfs.store(prefix, locations.blob_locations, linger=0)


@pytest.fixture
def other_node(seaweedfs: SeaweedServer, prefix: str, locations: MetadataStore) -> S3BlobStore:
    return seaweedfs.store(prefix, locations.blob_locations, linger=0)


def located_keys(store: S3BlobStore) -> list[str]:
    return keys_under(store, store.layout.located)


def leftovers(store: S3BlobStore, name: str) -> tuple[list[str], list[str]]:
    """A session's objects and the multipart uploads still open under the store's prefix."""
    return keys_under(store, store.layout.session(name)), multipart_keys(store)


def staged(store: S3BlobStore, name: str, data: bytes, piece: int = 3 * MiB) -> None:
    """Stage `data` under `name` in pieces, as PATCHes would, and let go of it."""
    writer = store.writer(name)
    for start in range(0, len(data), piece):
        writer.write(data[start : start + piece])
        writer.flush()
    writer.close()


def test_a_chunked_commit_copies_nothing(
    store: S3BlobStore, locations: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = deterministic_bytes(3 * PART_SIZE + 2 * MiB, b"located")
    digest = digest_of(data)
    calls = Calls(monkeypatch, store, "upload_part_copy", "copy_object", "upload_part")
    staged(store, "session", data)
    writer = store.writer("session", append=True)
    writer.commit(digest)
    assert calls["upload_part_copy"] == calls["copy_object"] == 0
    assert calls["upload_part"] == 4  # three parts as they filled, the tail at commit
    key = locations.blob_locations.key_of(digest)
    assert key is not None and key.startswith(store.layout.located + "session/")
    assert located_keys(store) == [key]
    assert keys_under(store, store.layout.blobs) == []  # nothing at the digest's key
    assert leftovers(store, "session") == ([], [])
    assert content(store, digest) == data
    assert (
        content(store, digest, PART_SIZE - 5, PART_SIZE + 5) == data[PART_SIZE - 5 : PART_SIZE + 5]
    )
    assert store.stat(digest) == len(data)
    assert list(store.list()) == [digest]


def test_a_blob_smaller_than_a_part_goes_to_its_digest_key(
    store: S3BlobStore, locations: MetadataStore
) -> None:
    data = deterministic_bytes(2 * MiB, b"small")
    staged(store, "small", data, piece=MiB)
    store.writer("small", append=True).commit(digest_of(data))
    assert locations.blob_locations.key_of(digest_of(data)) is None
    assert keys_under(store, store.layout.blobs) == [store.layout.blob(digest_of(data))]
    assert located_keys(store) == [] and leftovers(store, "small") == ([], [])


def test_reading_back_completes_the_parts_and_more_bytes_copy_them_once(
    store: S3BlobStore, other_node: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process rebuilding the running hash reads the staged bytes: the parts are
    completed where they are (no copy) and read; bytes written after that start a new
    multipart upload whose first parts the store copies from it, once."""
    first = deterministic_bytes(2 * PART_SIZE + 3 * MiB, b"first")
    more = deterministic_bytes(PART_SIZE + MiB, b"more")
    staged(store, "resumed", first)
    calls = Calls(monkeypatch, other_node, "upload_part_copy", "complete_multipart_upload")
    writer = other_node.writer("resumed", append=True)
    assert b"".join(writer.read()) == first
    assert calls["complete_multipart_upload"] == 1 and calls["upload_part_copy"] == 0
    writer.write(more)
    assert calls["upload_part_copy"] == 2  # the two whole parts; the 3 MiB after them is read
    writer.flush()
    writer.close()
    again = store.writer("resumed", append=True)  # and on the first node once more
    assert again.size == len(first + more)
    again.commit(digest_of(first + more))
    assert content(store, digest_of(first + more)) == first + more
    assert len(located_keys(store)) == 1
    assert leftovers(store, "resumed") == ([], [])


def test_a_failed_request_is_cut_back_without_completing_or_copying(
    store: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that fails after its bytes filled parts is cut back to where the writer
    took the session, from what it read then: nothing is completed or copied."""
    kept = deterministic_bytes(PART_SIZE + 2 * MiB, b"kept")
    staged(store, "cut", kept)
    calls = Calls(monkeypatch, store, "upload_part_copy", "complete_multipart_upload")
    writer = store.writer("cut", append=True)
    writer.write(deterministic_bytes(2 * PART_SIZE, b"lost"))  # two more parts go out
    writer.flush()
    writer.truncate(len(kept))
    assert writer.size == len(kept)
    writer.close()
    assert calls["complete_multipart_upload"] == calls["upload_part_copy"] == 0
    tail = deterministic_bytes(PART_SIZE, b"then")
    resumed = store.writer("cut", append=True)
    resumed.write(tail)
    resumed.commit(digest_of(kept + tail))
    assert content(store, digest_of(kept + tail)) == kept + tail


def test_a_cut_inside_the_parts_of_an_earlier_writer(
    store: S3BlobStore, other_node: S3BlobStore
) -> None:
    """Bytes past the acknowledged offset that an earlier writer (a crashed process) put in
    parts: the writer completes them where they are and keeps the front."""
    data = deterministic_bytes(3 * PART_SIZE, b"crashed")
    staged(store, "crash", data)
    writer = other_node.writer("crash", append=True)
    cut = PART_SIZE + 12345
    writer.truncate(cut)
    assert writer.size == cut
    writer.write(b"after the cut")
    writer.commit(digest_of(data[:cut] + b"after the cut"))
    assert content(store, digest_of(data[:cut] + b"after the cut")) == data[:cut] + b"after the cut"
    assert len(located_keys(store)) == 1
    assert leftovers(store, "crash") == ([], [])


def test_deleting_a_located_blob_removes_the_object_then_its_row(
    store: S3BlobStore, locations: MetadataStore
) -> None:
    data = deterministic_bytes(PART_SIZE + MiB, b"doomed")
    staged(store, "doomed", data)
    store.writer("doomed", append=True).commit(digest_of(data))
    assert store.delete_many([digest_of(data)]) == []
    assert located_keys(store) == []
    assert locations.blob_locations.key_of(digest_of(data)) is None
    assert store.stat(digest_of(data)) is None and list(store.list()) == []


def test_a_row_whose_object_is_gone_falls_back_to_the_digest_key(
    store: S3BlobStore, locations: MetadataStore
) -> None:
    """A crash between deleting a located object and its row leaves the row: reads look at
    the digest's key then, and the next delete takes the row."""
    data = deterministic_bytes(PART_SIZE + MiB, b"crash between")
    digest = digest_of(data)
    staged(store, "gone", data)
    store.writer("gone", append=True).commit(digest)
    store.delete_keys(located_keys(store))
    assert store.stat(digest) is None
    store.client.put_object(Bucket=store.bucket, Key=store.layout.blob(digest), Body=data)
    assert content(store, digest) == data and store.stat(digest) == len(data)
    assert store.delete_many([digest]) == []
    assert locations.blob_locations.key_of(digest) is None


def test_a_put_at_the_digest_key_drops_the_location(
    store: S3BlobStore, locations: MetadataStore
) -> None:
    data = deterministic_bytes(PART_SIZE + MiB, b"twice")
    staged(store, "first", data)
    store.writer("first", append=True).commit(digest_of(data))
    store.put(digest_of(data), data)
    assert locations.blob_locations.key_of(digest_of(data)) is None
    assert located_keys(store) == []
    assert content(store, digest_of(data)) == data


def test_two_sessions_of_one_blob_keep_one_object(
    store: S3BlobStore, other_node: S3BlobStore, locations: MetadataStore
) -> None:
    data = deterministic_bytes(PART_SIZE + MiB, b"same blob")
    staged(store, "one", data)
    staged(other_node, "two", data)
    store.writer("one", append=True).commit(digest_of(data))
    other_node.writer("two", append=True).commit(digest_of(data))
    assert located_keys(store) == [locations.blob_locations.key_of(digest_of(data))]
    assert content(other_node, digest_of(data)) == data


def test_cancel_removes_every_located_object_and_open_upload(
    store: S3BlobStore, other_node: S3BlobStore
) -> None:
    """What the session names goes, and so does what a crashed writer left under its name
    (an object, a multipart upload never completed)."""
    staged(store, "dropped", deterministic_bytes(2 * PART_SIZE + MiB, b"dropped"))
    reader = other_node.writer("dropped", append=True)
    b"".join(reader.read())  # completes the parts where they are: the session's base
    reader.close()
    assert len(located_keys(store)) == 1
    writer = store.writer("dropped", append=True)
    writer.write(deterministic_bytes(PART_SIZE, b"more"))  # a new upload, the base copied in
    writer.close()
    assert located_keys(store) == [] and len(multipart_keys(store)) == 1
    crashed = store.layout.located_under("dropped") + "left-by-a-crash"
    store.client.put_object(Bucket=store.bucket, Key=crashed, Body=b"x")
    store.client.create_multipart_upload(Bucket=store.bucket, Key=crashed + "-upload")
    store.writer("dropped", append=True).cancel()
    assert located_keys(store) == []
    assert leftovers(store, "dropped") == ([], [])


def test_a_session_staged_by_the_copying_writer_is_finished_by_it(
    seaweedfs: SeaweedServer, prefix: str, store: S3BlobStore, locations: MetadataStore
) -> None:
    """Sessions staged before locations were kept (chunk objects, no state) finish the
    copying way, so an upgrade loses no upload in flight."""
    data = deterministic_bytes(PART_SIZE + 3 * MiB, b"before the upgrade")
    staged(seaweedfs.store(prefix), "old", data)
    writer = store.writer("old", append=True)
    assert writer.size == len(data)
    writer.commit(digest_of(data))
    assert locations.blob_locations.key_of(digest_of(data)) is None
    assert content(store, digest_of(data)) == data
    assert leftovers(store, "old") == ([], [])


def test_an_upload_completed_before_its_state_said_so_is_the_base(
    store: S3BlobStore, other_node: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that dies between completing the parts (to read them) and recording that
    in the session's state: the next writer finds the completed object and goes on from it."""
    data = deterministic_bytes(2 * PART_SIZE + MiB, b"sealed, then died")
    staged(store, "died", data)
    dying = store.writer("died", append=True)
    save = dying._save
    # The state says it is being completed, then the process dies before saying it is.
    monkeypatch.setattr(dying, "_save", lambda: save() if dying._sealing else None)
    dying._seal()
    dying._lease.release()  # the process is gone
    writer = other_node.writer("died", append=True)
    assert writer.size == len(data)
    assert b"".join(writer.read()) == data
    writer.write(b"and more")
    writer.commit(digest_of(data + b"and more"))
    assert content(store, digest_of(data + b"and more")) == data + b"and more"
    assert len(located_keys(store)) == 1 and leftovers(store, "died") == ([], [])


def test_a_session_never_deletes_an_object_a_row_names(
    store: S3BlobStore, locations: MetadataStore
) -> None:
    """A session whose completed parts became a stored blob through another path (its commit
    recorded the row, then failed) leaves that object alone when it goes on or goes."""
    data = deterministic_bytes(PART_SIZE + MiB, b"named")
    staged(store, "named", data)
    reader = store.writer("named", append=True)
    b"".join(reader.read())
    reader.close()
    [key] = located_keys(store)
    assert locations.blob_locations.record(digest_of(data), key) is None
    writer = store.writer("named", append=True)
    writer.write(b"more")  # the base is copied into a new upload and is stale for the session
    writer.flush()
    writer.close()
    store.writer("named", append=True).cancel()
    assert located_keys(store) == [key]
    assert content(store, digest_of(data)) == data


def test_a_failed_request_after_a_read_back_is_cut_back_without_completing_again(
    store: S3BlobStore, other_node: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a read-back's base is copied into a new upload, a request that fails after that
    is cut back to it from memory: the upload is not completed again, nothing more copied."""
    data = deterministic_bytes(2 * PART_SIZE + 3 * MiB, b"read back")
    staged(store, "again", data)
    reader = other_node.writer("again", append=True)
    assert b"".join(reader.read()) == data
    reader.close()
    writer = store.writer("again", append=True)
    calls = Calls(monkeypatch, store, "upload_part_copy", "complete_multipart_upload")
    writer.write(deterministic_bytes(PART_SIZE + 3 * MiB, b"lost"))  # the base copied in
    assert calls["upload_part_copy"] == 2
    writer.truncate(len(data))  # the request failed
    assert calls["complete_multipart_upload"] == 0 and calls["upload_part_copy"] == 2
    writer.write(b"retried")
    writer.commit(digest_of(data + b"retried"))
    assert calls["complete_multipart_upload"] == 1 and calls["upload_part_copy"] == 2
    assert content(store, digest_of(data + b"retried")) == data + b"retried"


def test_a_row_naming_a_gone_object_is_taken_over_by_one_commit_only(
    locations: MetadataStore,
) -> None:
    """Two commits that both found the row naming a gone object: the first takes it over,
    the second is told the first one's key (and its copy goes with its session)."""
    rows = locations.blob_locations
    digest = digest_of(b"contended")
    assert rows.record(digest, "located/s0/gone") is None
    assert rows.record(digest, "located/s1/one") == "located/s0/gone"
    assert rows.record(digest, "located/s2/two") == "located/s0/gone"
    assert rows.record(digest, "located/s1/one", instead_of="located/s0/gone") is None
    assert rows.record(digest, "located/s2/two", instead_of="located/s0/gone") == "located/s1/one"
    assert rows.key_of(digest) == "located/s1/one"
    rows.forget([(digest, "located/s2/two")])  # names another key: stays
    assert rows.key_of(digest) == "located/s1/one"
