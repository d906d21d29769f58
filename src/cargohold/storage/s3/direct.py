"""A monolithic upload written straight to its digest's key (the driver's `DirectWriter`).

The client named the digest, so the bytes need no staging: a body of at most one part is
kept in memory and PUT once at `commit`; a larger one goes into a multipart upload at the
digest's key as it arrives, PARTS_IN_FLIGHT parts in flight while the next is received
(inflight.py), and is completed only at `commit`, after the caller verified the digest;
`cancel` aborts it. An incomplete multipart upload is invisible (no GET, HEAD or listing sees
it); one a crash left behind is removed by the bucket's abort rule (docs/configuration.md).
docs/decisions/038-s3-direct-pushes.md tells why.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.client import BaseClient

from cargohold.storage.s3.inflight import InFlight
from cargohold.storage.s3.multipart import MultipartUpload
from cargohold.storage.s3.writer import MAX_PARTS, UploadTooLarge, part_size

# Parts of one upload sent at once: while one part waits for the store's answer, the next is
# on the wire. A writer holds these and the part being filled.
PARTS_IN_FLIGHT = 2


class S3DirectWriter:
    def __init__(
        self,
        client: BaseClient,
        bucket: str,
        key: str,
        digest: str,
        executor: ThreadPoolExecutor,
        committed: Callable[[], None] | None = None,
    ) -> None:
        self.digest = digest
        # Called once the object is at its key (the driver forgets a location row then).
        self._committed = committed
        self._client = client
        self._bucket = bucket
        self._key = key
        self._buffer = bytearray()
        self._upload = MultipartUpload(client, bucket, key)
        self._sent = 0  # parts handed to the store (the last may still be in flight)
        self._parts: list[dict[str, Any]] = []  # parts the store acknowledged
        self._inflight = InFlight(executor, PARTS_IN_FLIGHT)
        self._done = False

    def write(self, data: bytes) -> None:
        if self._done:
            raise ValueError(f"the direct writer of {self.digest} is finished")
        self._buffer += data
        # Strictly more than a part: a body of exactly one part stays a single PUT.
        while len(self._buffer) > part_size(self._sent):
            if self._sent + 1 >= MAX_PARTS:
                raise UploadTooLarge(f"{self.digest} exceeds S3's {MAX_PARTS} parts")
            if not self._upload.started:
                self._upload.create()
            # The oldest part first when enough are in flight: the memory held stays bounded.
            if self._inflight.full:
                self._parts.append(self._inflight.wait())
            size = part_size(self._sent)
            part = bytes(memoryview(self._buffer)[:size])
            del self._buffer[:size]
            self._sent += 1
            self._inflight.start(self._upload.upload_part, self._sent, part)

    def commit(self) -> None:
        if self._done:
            raise ValueError(f"the direct writer of {self.digest} is finished")
        self._done = True
        if not self._upload.started:
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            self._buffer = bytearray()
        else:
            self._complete()
        if self._committed is not None:
            self._committed()

    def _complete(self) -> None:
        try:
            self._parts.extend(self._inflight.wait_all())
            if self._buffer:
                self._parts.append(self._upload.upload_part(self._sent + 1, bytes(self._buffer)))
            self._buffer = bytearray()
            self._upload.complete(self._parts)
        except BaseException:
            self._abort()
            raise

    def cancel(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        self._abort()

    def _abort(self) -> None:
        self._inflight.settle()
        self._upload.abort()
