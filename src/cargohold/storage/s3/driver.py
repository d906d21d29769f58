"""The S3 `BlobDriver`: objects under their digest's key, never modified once written.

Whole objects are single requests (put, ranged get, head, delete, listing). A monolithic
upload goes straight to its digest's key (direct.py); sessions are staged by writer.py.
`delete_many` is garbage collection's batch delete (DeleteObjects).
With `redirect`, blob GETs are answered with a presigned URL (`RedirectURLs`).
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
from cargohold.storage.s3.writer import S3Writer

log = logging.getLogger("cargohold.storage.s3")

# DeleteObjects takes at most 1,000 keys.
DELETE_BATCH = 1000
# Keys a DeleteObjects answer reports as failed are asked again, this many times in all.
DELETE_ATTEMPTS = 4


class S3BlobStore:
    name = "s3"

    def __init__(self, options: S3Options, client: BaseClient | None = None) -> None:
        self.options = options
        self.bucket = options.bucket
        self.layout = KeyLayout(options.prefix)
        self.client = client or make_client(options)
        # The parts writers send while their next bytes arrive (inflight.py) and the part
        # copies of a staged upload's commit (assemble.py): as many as the client has
        # connections.
        self._parts = ThreadPoolExecutor(MAX_CONNECTIONS, thread_name_prefix="s3-parts")

    def check(self) -> None:
        """S3Unavailable unless the bucket answers (the servers call it at start-up)."""
        check_store(self.client, self.options)

    # -- whole objects ------------------------------------------------------------------

    def put(self, digest: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.layout.blob(digest), Body=data)

    def get(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        key = self.layout.blob(digest)  # validated now, not at the first chunk
        return self._chunks(key, start, end)

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
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.layout.blob(digest))
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    def delete(self, digest: str) -> None:
        # S3 answers 204 for a key that is not there too.
        self.client.delete_object(Bucket=self.bucket, Key=self.layout.blob(digest))

    def delete_many(self, digests: Iterable[str]) -> list[str]:
        """Delete these objects; the digests whose deletion still failed after retries."""
        keys = {self.layout.blob(digest): digest for digest in digests}
        return [keys[key] for key in self.delete_keys(list(keys))]

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
        for item in list_objects(self.client, self.bucket, self.layout.blobs):
            digest = self.layout.digest_of(item["Key"])
            if digest is not None:
                yield digest

    # -- staging -------------------------------------------------------------------------

    def writer(self, name: str, append: bool = False) -> S3Writer:
        return S3Writer(
            self.client, self.bucket, self.layout, name, append, self.delete_keys, self._parts
        )

    def direct_writer(self, digest: str) -> S3DirectWriter:
        key = self.layout.blob(digest)  # validated before anything is written
        return S3DirectWriter(self.client, self.bucket, key, digest, self._parts)

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
                Params={"Bucket": self.bucket, "Key": self.layout.blob(digest)},
                ExpiresIn=self.options.redirect_expiry_seconds,
            )
        )
