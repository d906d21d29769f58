"""The S3 driver against a real S3 server (SeaweedFS): the shared driver suite, plus what
only an object store has: signatures really checked, start-up checks, leases across nodes,
presigned redirects, batched deletes, commits copying chunks several at a time."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from cargohold.meta.store import MetadataStore
from cargohold.storage.base import RedirectURLs, WriterBusy
from cargohold.storage.s3 import S3BlobStore, S3Unavailable
from cargohold.storage.s3 import lease as lease_module
from cargohold.storage.s3 import writer as writer_module
from cargohold.storage.s3.assemble import COPIES_IN_FLIGHT
from cargohold.storage.s3.writer import PART_SIZE, S3Writer
from tests.api.helpers import deterministic_bytes
from tests.storage.driver_suite import PAST_A_PART, DriverSuite, content, digest_of
from tests.support.seaweedfs import SeaweedServer, keys_under, multipart_keys


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own per test: every test starts with an empty store."""
    return f"test-{uuid.uuid4().hex[:12]}"


class TestS3Driver(DriverSuite):
    """Without blob locations (a tool with no metadata store): chunked uploads are copied
    to their digest's key at commit."""

    @pytest.fixture
    def driver(self, seaweedfs: SeaweedServer, prefix: str) -> S3BlobStore:
        return seaweedfs.store(prefix)

    @pytest.fixture
    def other_node(self, seaweedfs: SeaweedServer, prefix: str) -> S3BlobStore:
        return seaweedfs.store(prefix)


class TestS3LocatedDriver(DriverSuite):
    """With the metadata store's blob locations, as a server runs it: chunked uploads stay
    where their parts went (located.py)."""

    @pytest.fixture
    def driver(
        self, seaweedfs: SeaweedServer, prefix: str, locations: MetadataStore
    ) -> S3BlobStore:
        return seaweedfs.store(prefix, locations.blob_locations)

    @pytest.fixture
    def other_node(
        self, seaweedfs: SeaweedServer, prefix: str, locations: MetadataStore
    ) -> S3BlobStore:
        return seaweedfs.store(prefix, locations.blob_locations)


def test_a_wrong_secret_is_refused(seaweedfs: SeaweedServer) -> None:
    """The store really checks request signatures, so the tests exercise signing."""
    with pytest.raises(ClientError) as refused:
        seaweedfs.client(secret_key="not-the-secret").list_objects_v2(Bucket=seaweedfs.bucket)
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"secret_access_key": "not-the-secret"}, "access denied"),
        ({"bucket": "no-such-bucket-here"}, "no such bucket"),
        ({"endpoint_url": "http://127.0.0.1:9"}, "Could not connect"),
    ],
)
def test_start_up_check_names_the_problem(
    seaweedfs: SeaweedServer, prefix: str, changes: dict[str, object], reason: str
) -> None:
    seaweedfs.store(prefix).check()  # the right settings pass
    store = S3BlobStore(seaweedfs.s3_options(prefix, **changes))
    with pytest.raises(S3Unavailable) as failed:
        store.check()
    message = str(failed.value)
    assert reason in message and "\n" not in message
    assert "not-the-secret" not in message and seaweedfs.secret_key not in message


def test_objects_live_under_their_digest(seaweedfs: SeaweedServer, prefix: str) -> None:
    store = seaweedfs.store(f"/{prefix}/")
    data = b"layout"
    digest = digest_of(data)
    store.put(digest, data)
    hexpart = digest.split(":", 1)[1]
    key = f"{prefix}/blobs/sha256/{hexpart[:2]}/{hexpart}"
    assert seaweedfs.client().get_object(Bucket=seaweedfs.bucket, Key=key)["Body"].read() == data
    # Other objects under the prefix are not blobs.
    seaweedfs.client().put_object(Bucket=seaweedfs.bucket, Key=f"{prefix}/blobs/README", Body=b"")
    assert list(store.list()) == [digest]


def test_a_stale_lease_is_taken_over(
    seaweedfs: SeaweedServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that died holding a staged name (its lease never released) blocks the name
    only until the lease lapses; the bytes it flushed are kept."""
    crashed = seaweedfs.store(prefix).writer("orphaned")
    crashed.write(b"flushed before the crash")
    crashed.flush()  # ... and the process dies: no close, the lease stays
    survivor = seaweedfs.store(prefix)
    with pytest.raises(WriterBusy):
        survivor.writer("orphaned", append=True)
    monkeypatch.setattr(lease_module, "LEASE_SECONDS", -1.0)  # as if it had lapsed
    taken = survivor.writer("orphaned", append=True)
    assert b"".join(taken.read()) == b"flushed before the crash"
    # The dead holder, had it only stalled, finds out at its next renewal and stops.
    monkeypatch.setattr(lease_module, "RENEW_AFTER", 0.0)
    with pytest.raises(WriterBusy):
        crashed.write(b"too late")
    crashed.close()  # touches nothing
    assert b"".join(taken.read()) == b"flushed before the crash"
    taken.cancel()
    assert list(survivor.staged()) == []


def test_redirect_urls_serve_the_object_and_ranges(seaweedfs: SeaweedServer, prefix: str) -> None:
    data = bytes(range(256)) * 100
    digest = digest_of(data)
    plain = seaweedfs.store(prefix)
    assert isinstance(plain, RedirectURLs)
    assert plain.redirect_url(digest) is None  # redirects are off by default
    store = S3BlobStore(seaweedfs.s3_options(prefix, redirect=True, redirect_expiry_seconds=60))
    store.put(digest, data)
    url = store.redirect_url(digest)
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    assert seaweedfs.secret_key not in url
    assert httpx.get(url).content == data
    ranged = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == data[100:200]
    tampered = url.replace(digest.split(":", 1)[1][:8], "00000000")
    assert httpx.get(tampered).status_code == 403


def test_delete_many_in_batches_of_a_thousand(seaweedfs: SeaweedServer, prefix: str) -> None:
    store = seaweedfs.store(prefix)
    digests = [digest_of(b"%d" % i) for i in range(1003)]
    keys = [store.layout.blob(d) for d in digests]
    client = seaweedfs.client()
    for key in keys[:5] + keys[-5:]:
        client.put_object(Bucket=seaweedfs.bucket, Key=key, Body=b"x")
    requests: list[int] = []

    def count(params: dict[str, object], **_: object) -> None:
        requests.append(len(params["Delete"]["Objects"]))  # type: ignore[index]

    store.client.meta.events.register("provide-client-params.s3.DeleteObjects", count)
    assert store.delete_many(digests) == []
    assert requests == [1000, 3]
    assert list(store.list()) == []


def test_pieces_of_a_delete_that_fail_are_reported(
    seaweedfs: SeaweedServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DeleteObjects answers 200 with errors per key; those are asked again, and what still
    fails is returned (GC then keeps those rows for its next run)."""
    store = seaweedfs.store(prefix)
    stuck, fine = digest_of(b"stuck"), digest_of(b"fine")
    for digest in (stuck, fine):
        store.put(digest, b"x")
    real = store.client.delete_objects
    asked: list[list[str]] = []

    def flaky(**request: object) -> dict[str, object]:
        keys = [o["Key"] for o in request["Delete"]["Objects"]]  # type: ignore[index]
        asked.append(keys)
        kept = [k for k in keys if k == store.layout.blob(stuck)]
        request["Delete"] = {"Objects": [{"Key": k} for k in keys if k not in kept]}  # type: ignore[index]
        answer = real(**request) if request["Delete"]["Objects"] else {}  # type: ignore[index]
        errors = [{"Key": k, "Code": "InternalError", "Message": "try again"} for k in kept]
        return {**answer, "Errors": errors}

    monkeypatch.setattr("cargohold.storage.s3.driver.wait_exponential", lambda **_: lambda _: 0)
    monkeypatch.setattr(store.client, "delete_objects", flaky)
    assert store.delete_many([stuck, fine]) == [stuck]
    assert len(asked) == 4 and asked[1:] == [[store.layout.blob(stuck)]] * 3
    assert store.stat(fine) is None and store.stat(stuck) == 1


def test_a_direct_write_streams_into_a_multipart_upload_at_the_digest_key(
    seaweedfs: SeaweedServer, prefix: str
) -> None:
    """No staging objects, no copy: the parts go to the digest's own key as they arrive,
    and only the commit makes the object appear; a body of one part is one PUT."""
    store = seaweedfs.store(prefix)
    data = deterministic_bytes(PAST_A_PART, b"streamed")
    digest = digest_of(data)
    writer = store.direct_writer(digest)
    writer.write(data[: 9 * 1024 * 1024])  # past the first 8 MiB part
    assert multipart_keys(store) == [store.layout.blob(digest)]
    assert keys_under(store, store.layout.prefix) == []  # nothing visible, nothing staged
    writer.write(data[9 * 1024 * 1024 :])
    writer.commit()
    assert content(store, digest) == data
    assert multipart_keys(store) == []
    assert keys_under(store, store.layout.prefix) == [store.layout.blob(digest)]

    one_part = deterministic_bytes(8 * 1024 * 1024, b"one part")
    writer = store.direct_writer(digest_of(one_part))
    writer.write(one_part)
    assert multipart_keys(store) == []  # kept in memory until the commit
    writer.commit()
    assert content(store, digest_of(one_part)) == one_part


def test_a_cancelled_direct_write_aborts_its_multipart_upload(
    seaweedfs: SeaweedServer, prefix: str
) -> None:
    store = seaweedfs.store(prefix)
    data = deterministic_bytes(PAST_A_PART, b"aborted")
    writer = store.direct_writer(digest_of(data))
    writer.write(data)
    assert multipart_keys(store) == [store.layout.blob(digest_of(data))]
    writer.cancel()
    assert multipart_keys(store) == []
    assert keys_under(store, store.layout.prefix) == []


@pytest.mark.parametrize("located", [False, True], ids=["copying", "located"])
def test_a_chunk_that_failed_in_the_background_is_kept_in_memory(
    seaweedfs: SeaweedServer,
    prefix: str,
    locations: MetadataStore,
    monkeypatch: pytest.MonkeyPatch,
    located: bool,
) -> None:
    """Staged chunks go out while the next bytes arrive, two at a time; if the first one's
    request fails, the error comes from the next call that needs it (the flush before an
    offset is recorded), and its bytes and the second's are still the writer's, so nothing
    acknowledged can be lost."""
    store = seaweedfs.store(prefix, locations.blob_locations if located else None)
    data = deterministic_bytes(2 * PART_SIZE + 1024 * 1024, b"chunk")
    writer = store.writer("failing")
    send = writer._send_chunk
    sent: list[int] = []

    def first_refused(index: int, key: str, chunk: bytes) -> object:
        sent.append(index)
        if index == 0:
            time.sleep(0.2)  # the second one is in flight meanwhile, and stored
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "Put")
        return send(index, key, chunk)

    monkeypatch.setattr(writer, "_send_chunk", first_refused)
    writer.write(data)  # returns before the chunks' requests end
    with pytest.raises(ClientError):
        writer.flush()
    assert sorted(sent) == [0, 1]
    assert writer.size == len(data)
    assert b"".join(writer.read()) == data
    monkeypatch.undo()
    writer.flush()
    writer.close()
    resumed = store.writer("failing", append=True)
    assert resumed.size == len(data)
    assert b"".join(resumed.read()) == data
    resumed.commit(digest_of(data))
    assert content(store, digest_of(data)) == data


class CopyWatch:
    """Wraps a store client's UploadPartCopy: counts the copies running at once, delays each
    (so they overlap), and fails the part numbered `failing`, if any."""

    def __init__(self, store: S3BlobStore, failing: int | None = None) -> None:
        self._real = store.client.upload_part_copy
        self._lock = threading.Lock()
        self.failing = failing
        self.running = 0
        self.peak = 0
        self.numbers: list[int] = []

    def __call__(self, **request: Any) -> dict[str, Any]:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.numbers.append(request["PartNumber"])
        try:
            time.sleep(0.1)
            if request["PartNumber"] == self.failing:
                raise ClientError(
                    {"Error": {"Code": "InternalError", "Message": "injected"}}, "UploadPartCopy"
                )
            return dict(self._real(**request))
        finally:
            with self._lock:
                self.running -= 1


def staged_chunks(store: S3BlobStore, name: str, data: bytes) -> S3Writer:
    writer = store.writer(name)
    for start in range(0, len(data), 3 * 1024 * 1024):
        writer.write(data[start : start + 3 * 1024 * 1024])
    writer.flush()
    return writer


def test_a_commit_copies_its_chunks_several_at_a_time_in_part_order(
    seaweedfs: SeaweedServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More chunks than copies in flight, and a tail: the copies overlap (never more than
    COPIES_IN_FLIGHT), the parts are completed in order, the lease is renewed after each."""
    monkeypatch.setattr(writer_module, "PART_SIZE", 5 * 1024 * 1024)  # S3's minimum
    chunks = COPIES_IN_FLIGHT + 2
    data = deterministic_bytes(chunks * 5 * 1024 * 1024 + 123_457, b"many chunks")
    digest = digest_of(data)
    store = seaweedfs.store(prefix)
    writer = staged_chunks(store, "many", data)
    watch = CopyWatch(store)
    monkeypatch.setattr(store.client, "upload_part_copy", watch)
    completed: list[list[int]] = []
    real_complete = store.client.complete_multipart_upload

    def complete(**request: Any) -> Any:
        completed.append([p["PartNumber"] for p in request["MultipartUpload"]["Parts"]])
        return real_complete(**request)

    monkeypatch.setattr(store.client, "complete_multipart_upload", complete)
    renewals: list[bool] = []
    real_renew = writer._renew
    monkeypatch.setattr(writer, "_renew", lambda now=False: renewals.append(now) or real_renew(now))
    writer.commit(digest)
    assert sorted(watch.numbers) == list(range(1, chunks + 1))
    assert watch.peak == COPIES_IN_FLIGHT
    assert completed == [list(range(1, chunks + 2))]  # the tail is the last part
    assert renewals.count(False) == chunks + 1  # after each part's answer
    assert content(store, digest) == data
    assert store.stat(digest) == len(data)
    assert multipart_keys(store) == []
    assert keys_under(store, store.layout.prefix) == [store.layout.blob(digest)]


def test_a_failed_part_copy_aborts_the_commit_and_keeps_the_staging(
    seaweedfs: SeaweedServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One copy fails while others are in flight: the commit waits for them all, aborts the
    multipart upload (no object at the digest's key, no upload left), raises, and the staged
    bytes are still there to commit again."""
    monkeypatch.setattr(writer_module, "PART_SIZE", 5 * 1024 * 1024)
    chunks = COPIES_IN_FLIGHT + 2
    data = deterministic_bytes(chunks * 5 * 1024 * 1024 + 999, b"failed copy")
    digest = digest_of(data)
    store = seaweedfs.store(prefix)
    writer = staged_chunks(store, "failing-copy", data)
    watch = CopyWatch(store, failing=3)
    monkeypatch.setattr(store.client, "upload_part_copy", watch)
    real_abort = store.client.abort_multipart_upload
    running_at_abort: list[int] = []

    def abort(**request: Any) -> Any:
        running_at_abort.append(watch.running)
        return real_abort(**request)

    monkeypatch.setattr(store.client, "abort_multipart_upload", abort)
    with pytest.raises(ClientError, match="injected"):
        writer.commit(digest)
    assert watch.running == 0 and running_at_abort == [0]  # no copy outlives the commit
    assert store.stat(digest) is None
    assert multipart_keys(store) == []
    monkeypatch.setattr(store.client, "upload_part_copy", watch._real)
    writer.commit(digest)  # the writer and its staged bytes are as they were
    assert content(store, digest) == data
    assert keys_under(store, store.layout.prefix) == [store.layout.blob(digest)]


class PutWatch:
    """Wraps a store client's PutObject: the bytes each PUT under the staging carried."""

    def __init__(self, store: S3BlobStore) -> None:
        self._real = store.client.put_object
        self.sizes: list[int] = []

    def __call__(self, **request: Any) -> dict[str, Any]:
        if "/uploads/" in request["Key"]:
            self.sizes.append(len(request["Body"]))
        return dict(self._real(**request))


def test_tiny_flushes_rewrite_each_byte_a_bounded_number_of_times(
    seaweedfs: SeaweedServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session fed 1,000 tiny PATCHes (a write and a flush each): the store receives a
    small multiple of the bytes, not the whole tail again per flush, the tail stays a
    handful of pieces, and another node's writer reads every byte back in order."""
    store = seaweedfs.store(prefix)
    watch = PutWatch(store)
    monkeypatch.setattr(store.client, "put_object", watch)
    writer = store.writer("tiny")
    data = deterministic_bytes(1000 * 997, b"tiny patches")
    for start in range(0, len(data), 997):
        writer.write(data[start : start + 997])
        writer.flush()
    writer.close()
    # Rewriting the tail per flush would send about 500 times the bytes.
    assert sum(watch.sizes) <= 12 * len(data)
    assert len(watch.sizes) <= 2 * 1000
    pieces = [k for k in keys_under(store, store.layout.uploads) if "/tail-" in k]
    assert 1 <= len(pieces) <= 10
    resumed = seaweedfs.store(prefix).writer("tiny", append=True)
    assert resumed.size == len(data)
    assert b"".join(resumed.read()) == data
    resumed.write(b"and the end")
    resumed.commit(digest_of(data + b"and the end"))
    assert content(store, digest_of(data + b"and the end")) == data + b"and the end"
    assert keys_under(store, store.layout.uploads) == []


@pytest.mark.parametrize("cut", [0, 1, 5000, 5001, 9999, 12_345])
def test_a_tail_of_pieces_truncates_and_resumes(
    seaweedfs: SeaweedServer, prefix: str, cut: int
) -> None:
    """A cut anywhere in a tail of several pieces (between pieces, inside one) leaves exactly
    the bytes before it, for this writer and for the next one, which finds no piece past it."""
    store = seaweedfs.store(prefix)
    data = deterministic_bytes(12_345, b"pieces")
    writer = store.writer("cut")
    for start, end in ((0, 5000), (5000, 9999), (9999, 10_000), (10_000, 12_345)):
        writer.write(data[start:end])
        writer.flush()
    writer.close()
    cutter = store.writer("cut", append=True)
    cutter.truncate(cut)
    assert b"".join(cutter.read()) == data[:cut]
    cutter.write(b"after the cut")
    cutter.flush()
    cutter.close()
    resumed = seaweedfs.store(prefix).writer("cut", append=True)
    assert b"".join(resumed.read()) == data[:cut] + b"after the cut"
    resumed.cancel()
    assert keys_under(store, store.layout.uploads) == []
