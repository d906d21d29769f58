"""The S3 `BlobDriver`: objects under their digest's key, never modified once written.

Whole objects are single requests (put, ranged get, head, delete, listing). A monolithic
upload goes straight to its digest's key (direct.py); sessions are staged by writer.py.
`delete_many` is garbage collection's batch delete (DeleteObjects).
With `redirect`, blob GETs are answered with a presigned URL (`RedirectURLs`).

Given the metadata store's blob locations, sessions are staged by located.py instead: a
chunked upload is completed where its parts went, and a `blob_locations` row points the
digest there (decision 055). Every read, delete and listing of an object then asks the rows
first; a blob written at its digest's key (put, direct writer) drops a row it had. A closed
located writer stays parked a moment with its lease, and `writer` hands it to the session's
next request in this process (parked.py, decision 056).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from cargohold.storage.s3.client import (
    MAX_CONNECTIONS,
    S3Options,
    check_store,
    error_code,
    is_missing,
    list_objects,
    make_client,
    read_object,
)
from cargohold.storage.s3.direct import S3DirectWriter
from cargohold.storage.s3.keys import STAGED_NAME_RE, KeyLayout
from cargohold.storage.s3.located import LegacySession, LocatedWriter
from cargohold.storage.s3.locations import BlobLocations
from cargohold.storage.s3.parked import LINGER_SECONDS, ParkedWriters
from cargohold.storage.s3.writer import S3Writer

log = logging.getLogger("cargohold.storage.s3")

# DeleteObjects takes at most 1,000 keys.
DELETE_BATCH = 1000
# Keys a DeleteObjects answer reports as failed are asked again, this many times in all.
DELETE_ATTEMPTS = 4


class S3BlobStore:
    name = "s3"

    def __init__(
        self,
        options: S3Options,
        client: BaseClient | None = None,
        locations: BlobLocations | None = None,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.options = options
        # Without them (a tool with no metadata store) sessions are staged and copied.
        self.locations = locations
        self.bucket = options.bucket
        self.layout = KeyLayout(options.prefix)
        self.client = client or make_client(options)
        # The parts writers send while their next bytes arrive (inflight.py) and the part
        # copies of a staged upload's commit (assemble.py): as many as the client has
        # connections.
        self._parts = ThreadPoolExecutor(MAX_CONNECTIONS, thread_name_prefix="s3-parts")
        # Located writers closed a moment ago, their leases held for the next request.
        self.parked: ParkedWriters[LocatedWriter] = ParkedWriters(linger)

    def check(self) -> None:
        """S3Unavailable unless the bucket answers (the servers call it at start-up)."""
        check_store(self.client, self.options)

    # -- whole objects ------------------------------------------------------------------

    def put(self, digest: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.layout.blob(digest), Body=data)
        self._unlocate(digest)

    def _unlocate(self, digest: str) -> None:
        """The object is at its digest's key now: the object a row names goes, then the
        row."""
        if self.locations is not None and (key := self.locations.key_of(digest)) is not None:
            # The object first: until the row goes, reads still find it there.
            if not self.delete_keys([key]):
                self.locations.forget([(digest, key)])

    def _keys(self, digest: str) -> list[str]:
        """Where the object `digest` may be, in the order to look: its located key (when a
        row names one), then its digest's key."""
        key = self.layout.blob(digest)  # validated first
        located = self.locations.key_of(digest) if self.locations is not None else None
        return [located, key] if located else [key]

    def get(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        return self._first_found(self._keys(digest), start, end)

    def _first_found(self, keys: list[str], start: int, end: int | None) -> Iterator[bytes]:
        for key in keys[:-1]:
            try:
                chunks = self._chunks(key, start, end)
                first = next(chunks, None)
            except FileNotFoundError:
                continue  # a row left by a crash: the object may be at its digest's key
            if first is not None:
                yield first
                yield from chunks
            return
        yield from self._chunks(keys[-1], start, end)

    def _chunks(self, key: str, start: int, end: int | None) -> Iterator[bytes]:
        try:
            # A ClientError comes from the GET itself, before the first piece.
            yield from read_object(self.client, self.bucket, key, start, end)
        except ClientError as exc:
            if is_missing(exc):
                raise FileNotFoundError(f"no object {key!r} in bucket {self.bucket!r}") from None
            if error_code(exc) == "InvalidRange":
                return  # starts past the end: no bytes
            raise

    def stat(self, digest: str) -> int | None:
        for key in self._keys(digest):
            if (size := self._size(key)) is not None:
                return size
        return None

    def _size(self, key: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    def delete(self, digest: str) -> None:
        if self.delete_many([digest]):
            raise OSError(f"could not delete {digest} from bucket {self.bucket}")

    def delete_many(self, digests: Iterable[str]) -> list[str]:
        """Delete these objects; the digests whose deletion still failed after retries. A
        located object's row goes after the object (a crash between leaves a row the next
        delete finds again)."""
        keys = {self.layout.blob(digest): digest for digest in digests}
        located: dict[str, str] = {}
        if self.locations is not None and keys:
            located = self.locations.keys_of(list(keys.values()))
            keys.update((key, digest) for digest, key in located.items())
        failed = {keys[key] for key in self.delete_keys(list(keys))}
        if located:
            gone = [(d, key) for d, key in located.items() if d not in failed]
            assert self.locations is not None
            self.locations.forget(gone)
        return sorted(failed)

    def delete_keys(self, keys: list[str]) -> list[str]:
        """DeleteObjects in batches of at most 1,000 keys; a 200 answer may still report
        errors per key, and those keys are asked again (a bounded, backed-off retry). The
        keys that could not be deleted are returned (and logged)."""
        failed: list[str] = []
        for first in range(0, len(keys), DELETE_BATCH):
            failed += self._delete_batch(keys[first : first + DELETE_BATCH])
        return failed

    def _delete_batch(self, keys: list[str]) -> list[str]:
        remaining = keys
        errors: dict[str, str] = {}

        def attempt() -> list[str]:
            nonlocal remaining
            if not remaining:
                return []
            answer = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in remaining], "Quiet": True},
            )
            errors.clear()
            for error in answer.get("Errors", []):
                if error.get("Code") not in ("NoSuchKey",):
                    errors[error["Key"]] = f"{error.get('Code')}: {error.get('Message', '')}"
            remaining = [key for key in remaining if key in errors]
            return remaining

        retrying = Retrying(
            retry=retry_if_result(bool),
            stop=stop_after_attempt(DELETE_ATTEMPTS),
            wait=wait_exponential(multiplier=0.1, max=2),
            reraise=True,
        )
        with contextlib.suppress(RetryError):
            retrying(attempt)
        for key in remaining:
            log.warning("could not delete %s from bucket %s: %s", key, self.bucket, errors[key])
        return remaining

    def list(self) -> Iterator[str]:
        """Objects at their digest's key, then located ones not among them (by their rows;
        a row whose object is gone is listed too, and `stat` tells)."""
        listed: set[str] = set()
        for item in list_objects(self.client, self.bucket, self.layout.blobs):
            digest = self.layout.digest_of(item["Key"])
            if digest is not None:
                listed.add(digest)
                yield digest
        if self.locations is not None:
            for digest, _ in self.locations.all():
                if digest not in listed:
                    yield digest

    # -- staging -------------------------------------------------------------------------

    def writer(self, name: str, append: bool = False) -> S3Writer:
        if self.locations is not None:
            parked = self.parked.take(name)
            if parked is not None:
                if append and parked.resume():
                    return parked
                parked.let_go()
            try:
                return LocatedWriter(
                    self.client,
                    self.bucket,
                    self.layout,
                    name,
                    append,
                    self.delete_keys,
                    self._parts,
                    self.locations,
                    self._size,
                    self._unlocate,
                    self.parked,
                )
            except LegacySession:
                pass  # staged before locations were kept: finished the copying way
        return S3Writer(
            self.client, self.bucket, self.layout, name, append, self.delete_keys, self._parts
        )

    def direct_writer(self, digest: str) -> S3DirectWriter:
        key = self.layout.blob(digest)  # validated before anything is written
        return S3DirectWriter(
            self.client,
            self.bucket,
            key,
            digest,
            self._parts,
            lambda: self._unlocate(digest),
        )

    def staged(self) -> Iterator[tuple[str, float]]:
        latest: dict[str, float] = {}
        for item in list_objects(self.client, self.bucket, self.layout.uploads):
            name = item["Key"][len(self.layout.uploads) :].split("/", 1)[0]
            if STAGED_NAME_RE.fullmatch(name):
                written = item["LastModified"].timestamp()
                latest[name] = max(written, latest.get(name, 0.0))
        yield from latest.items()

    # -- redirects -------------------------------------------------------------------------

    def redirect_url(self, digest: str) -> str | None:
        """A presigned GET of the object, valid for `redirect_expiry_seconds`; None when
        redirects are off. Signed locally: no request to the store."""
        if not self.options.redirect:
            return None
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._keys(digest)[0]},
                ExpiresIn=self.options.redirect_expiry_seconds,
            )
        )
