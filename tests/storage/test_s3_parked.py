"""A closed located writer parked with its lease for the session's next request in the same
process (storage/s3/parked.py, decision 056), on a real S3 server (SeaweedFS): the next
request asks the store nothing to take the session up again, the name is released after the
linger, and a writer elsewhere waits for that instead of being refused."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cargohold.meta.db import make_engine, migrate
from cargohold.meta.store import MetadataStore
from cargohold.storage.base import WriterBusy
from cargohold.storage.s3 import S3BlobStore
from cargohold.storage.s3 import lease as lease_module
from cargohold.storage.s3.keys import LEASE
from cargohold.storage.s3.multipart import MultipartUpload
from cargohold.storage.s3.writer import PART_SIZE
from tests.api.helpers import deterministic_bytes
from tests.storage.driver_suite import content, digest_of
from tests.storage.store_calls import Calls
from tests.support.seaweedfs import SeaweedServer, keys_under

MiB = 1024 * 1024
# Long against anything a test does between two requests, so a parked writer is still there.
LONG_LINGER = 60.0
# Requests a writer taking a session makes before it has any bytes to send.
TAKING = ("put_object", "list_objects_v2", "get_object", "head_object", "delete_object")


@pytest.fixture
def prefix() -> str:
    return f"parked-{uuid.uuid4().hex[:12]}"


def node(
    seaweedfs: SeaweedServer, prefix: str, locations: MetadataStore, linger: float = LONG_LINGER
) -> S3BlobStore:
    return seaweedfs.store(prefix, locations.blob_locations, linger=linger)


@pytest.fixture
def store(seaweedfs: SeaweedServer, prefix: str, locations: MetadataStore) -> S3BlobStore:
    """The driver as a server runs it, its parked writers lingering long."""
    return node(seaweedfs, prefix, locations)


def lease_held(store: S3BlobStore, name: str) -> bool:
    return store.layout.session(name) + LEASE in keys_under(store, store.layout.session(name))


def patched(store: S3BlobStore, name: str, data: bytes, offset: int = 0) -> None:
    """One PATCH's worth: take the session, append `data` at `offset`, flush, close."""
    writer = store.writer(name, append=offset > 0)
    assert writer.size == offset
    writer.write(data)
    writer.flush()
    writer.close()


def test_the_next_request_asks_the_store_nothing_to_take_the_session(
    store: S3BlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = deterministic_bytes(2 * PART_SIZE, b"first patch")
    more = deterministic_bytes(PART_SIZE + 3 * MiB, b"second patch")
    patched(store, "session", first)
    assert len(store.parked) == 1 and lease_held(store, "session")
    calls = Calls(monkeypatch, store, *TAKING)
    writer = store.writer("session", append=True)
    assert writer.size == len(first)
    assert all(calls[name] == 0 for name in TAKING), calls.counts
    assert len(store.parked) == 0  # taken: a third request would load or wait
    writer.write(more)
    writer.flush()
    writer.close()
    store.writer("session", append=True).commit(digest_of(first + more))
    assert content(store, digest_of(first + more)) == first + more
    assert len(store.parked) == 0 and not lease_held(store, "session")  # ended, not parked


def released(store: S3BlobStore, name: str) -> bool:
    """Whether the name's lease went (waiting for it a while)."""
    deadline = time.monotonic() + 30
    while lease_held(store, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not lease_held(store, name)


def test_the_name_is_released_when_the_linger_ends_and_not_parked_again(
    seaweedfs: SeaweedServer, prefix: str, locations: MetadataStore
) -> None:
    """A session whose linger ran out untaken (its requests go to another process, or come
    slowly) is not parked by this process again: a session moving between processes waits
    for a linger at most once per process."""
    store = node(seaweedfs, prefix, locations, linger=0.2)
    data = deterministic_bytes(PART_SIZE + MiB, b"lingering")
    patched(store, "session", data)
    assert released(store, "session") and len(store.parked) == 0
    patched(store, "session", b"more", len(data))  # loaded from the bucket, then let go
    assert len(store.parked) == 0 and not lease_held(store, "session")
    patched(store, "other", b"another session")  # others still park
    assert len(store.parked) == 1
    again = node(seaweedfs, prefix, locations).writer("session", append=True)
    assert b"".join(again.read()) == data + b"more"


def test_another_node_waits_for_the_linger_and_finds_every_byte(
    seaweedfs: SeaweedServer,
    prefix: str,
    locations: MetadataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session moving to another node (a load balancer without affinity) is delayed by the
    linger, never refused, and that node reads what this one acknowledged."""
    monkeypatch.setattr(lease_module, "ACQUIRE_WAIT_SECONDS", 30.0)  # a loaded machine too
    here = node(seaweedfs, prefix, locations, linger=0.3)
    there = node(seaweedfs, prefix, locations)
    first = deterministic_bytes(PART_SIZE + 2 * MiB, b"moving")
    patched(here, "session", first)
    assert len(here.parked) == 1
    writer = there.writer("session", append=True)  # waits for here's linger
    assert len(here.parked) == 0
    assert writer.size == len(first)
    writer.write(b"the end")
    writer.commit(digest_of(first + b"the end"))
    assert content(there, digest_of(first + b"the end")) == first + b"the end"


def test_a_request_still_writing_is_refused_after_the_wait(
    seaweedfs: SeaweedServer,
    prefix: str,
    locations: MetadataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lease_module, "ACQUIRE_WAIT_SECONDS", 0.3)
    here, there = node(seaweedfs, prefix, locations), node(seaweedfs, prefix, locations)
    writing = here.writer("session")
    writing.write(b"not done")
    with pytest.raises(WriterBusy):
        there.writer("session", append=True)
    writing.close()
    with pytest.raises(WriterBusy):  # parked: still this node's for the linger
        there.writer("session", append=True)
    here.parked.let_go_all()  # as a stopping process does
    assert not lease_held(here, "session")
    assert b"".join(there.writer("session", append=True).read()) == b"not done"


def test_a_failed_request_is_cut_back_and_parked_as_acknowledged(
    store: S3BlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PATCH whose body broke is cut back to the acknowledged bytes before its writer is
    parked; the next request finds those, with no part completed or copied."""
    first = deterministic_bytes(PART_SIZE + 2 * MiB, b"acknowledged")
    patched(store, "session", first)
    calls = Calls(
        monkeypatch, store, "upload_part_copy", "complete_multipart_upload", "copy_object"
    )
    broken = store.writer("session", append=True)
    broken.write(deterministic_bytes(2 * PART_SIZE, b"never acknowledged"))
    broken.truncate(len(first))  # what the upload service does when a body fails
    broken.close()
    writer = store.writer("session", append=True)
    assert writer is broken and writer.size == len(first)
    writer.write(b"!")
    writer.commit(digest_of(first + b"!"))
    assert calls["upload_part_copy"] == calls["copy_object"] == 0
    assert calls["complete_multipart_upload"] == 1  # the commit's own
    assert content(store, digest_of(first + b"!")) == first + b"!"


def test_starting_a_parked_name_over_drops_what_it_staged(
    store: S3BlobStore,
) -> None:
    patched(store, "session", deterministic_bytes(PART_SIZE + MiB, b"old"))
    fresh = store.writer("session")  # append=False: a new session under the name
    assert fresh.size == 0
    fresh.write(b"new")
    fresh.commit(digest_of(b"new"))
    assert keys_under(store, store.layout.located) == []
    assert content(store, digest_of(b"new")) == b"new"


def test_a_parked_writer_whose_lease_was_taken_is_not_used(
    store: S3BlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the lease lapsed while parked and another writer took the name, the parked writer
    touches nothing more; this process's next request waits for that writer like any."""
    patched(store, "session", deterministic_bytes(PART_SIZE + MiB, b"parked"))
    lease_key = store.layout.session("session") + LEASE
    store.client.put_object(Bucket=store.bucket, Key=lease_key, Body=b"another writer's")
    monkeypatch.setattr(lease_module, "RENEW_AFTER", 0.0)  # taking it up renews the lease
    monkeypatch.setattr(lease_module, "ACQUIRE_WAIT_SECONDS", 0.2)
    with pytest.raises(WriterBusy):
        store.writer("session", append=True)
    assert len(store.parked) == 0
    answer = store.client.get_object(Bucket=store.bucket, Key=lease_key)
    assert answer["Body"].read() == b"another writer's"  # left as the other writer has it


def test_a_writer_whose_completion_failed_is_not_parked(
    store: S3BlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading back completes the parts where they are; if that failed midway, the writer does
    not know what the store did: it lets go, and the next writer finds out from the bucket."""
    data = deterministic_bytes(PART_SIZE + 2 * MiB, b"completing")
    patched(store, "session", data)
    real = MultipartUpload.complete

    def failing(self: MultipartUpload, parts: list[dict[str, Any]]) -> None:
        raise OSError("the store did not answer")

    monkeypatch.setattr(MultipartUpload, "complete", failing)
    writer = store.writer("session", append=True)
    with pytest.raises(OSError, match="did not answer"):
        b"".join(writer.read())
    writer.close()
    assert len(store.parked) == 0 and not lease_held(store, "session")
    monkeypatch.setattr(MultipartUpload, "complete", real)
    assert b"".join(store.writer("session", append=True).read()) == data


def test_a_writer_is_not_parked_when_its_timer_cannot_start(
    store: S3BlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    def no_thread(self: threading.Timer) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Timer, "start", no_thread)
    patched(store, "session", b"bytes")
    assert len(store.parked) == 0 and not lease_held(store, "session")


def _park_and_exit(seaweedfs: SeaweedServer, prefix: str, database: str) -> None:
    """A worker process's life: a request parks its writer, then the process stops."""
    meta = MetadataStore(make_engine(database))
    store = seaweedfs.store(prefix, meta.blob_locations, linger=LONG_LINGER)
    patched(store, "session", b"the worker's bytes")
    assert len(store.parked) == 1


def test_a_stopping_worker_process_releases_what_it_parked(
    seaweedfs: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    """granian's workers are forked multiprocessing children, which skip atexit: their exit
    finalizers release the parked leases, so another node need not wait for them to lapse."""
    database = f"sqlite:///{tmp_path / 'worker.db'}"
    migrate(make_engine(database))
    worker = multiprocessing.get_context("fork").Process(
        target=_park_and_exit, args=(seaweedfs, prefix, database)
    )
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    store = seaweedfs.store(prefix)
    assert keys_under(store, store.layout.session("session")) != []  # the bytes stay
    assert not lease_held(store, "session")
