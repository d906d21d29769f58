"""Exclusive hold of a staged name across processes and nodes: a lease object.

S3 has no locks, but it has conditional writes (If-None-Match / If-Match on PUT and DELETE;
AWS S3, MinIO, Ceph RGW and SeaweedFS answer them). A writer takes a name by creating
`<session>/lease` only if it does not exist; the store itself decides between two takers.
A holder that died cannot release it, so a lease lasts `LEASE_SECONDS` after its last
renewal; a taker finds it stale by the store's own clock (its `Last-Modified` against the
`Date` of the answer, so node clocks never matter) and replaces it only if it is still that
same object (If-Match on its ETag), so two takers of a stale lease cannot both win.
A holder renews while it works (`renew_if_due`, called as bytes are written).
A writer parked past its request (parked.py) keeps its lease for a moment, so a taker that
finds a live lease waits up to `ACQUIRE_WAIT_SECONDS` for it to go before it gives up.
"""

from __future__ import annotations

import time
import uuid
from email.utils import parsedate_to_datetime

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from cargohold.storage.base import WriterBusy
from cargohold.storage.s3.client import is_missing, is_precondition
from cargohold.storage.s3.parked import LINGER_SECONDS

# Longer than a client may stall between two pieces of a body (body_read_timeout_seconds,
# 60 s by default), so a slow but live upload keeps its lease; a crashed holder's name is
# free again after this long.
LEASE_SECONDS = 120.0
RENEW_AFTER = LEASE_SECONDS / 4
# How long a taker waits for a live lease to be released, and how often it looks: past a
# parked writer's linger and the request that releases it.
ACQUIRE_WAIT_SECONDS = 4 * LINGER_SECONDS
ACQUIRE_POLL_SECONDS = 0.05


class LeaseLost(WriterBusy):
    """Another writer took the name after this one's lease lapsed."""


class Lease:
    def __init__(self, client: BaseClient, bucket: str, key: str, name: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._name = name
        self._etag: str | None = None
        self._renewed = 0.0

    def _put(self, **condition: str) -> str:
        answer = self._client.put_object(
            Bucket=self._bucket, Key=self._key, Body=uuid.uuid4().hex.encode(), **condition
        )
        return str(answer["ETag"])

    def acquire(self) -> None:
        """Hold the name, or WriterBusy if a live lease of another writer holds it still
        after `ACQUIRE_WAIT_SECONDS`."""
        for attempt in Retrying(
            retry=retry_if_exception_type(WriterBusy),
            stop=stop_after_delay(ACQUIRE_WAIT_SECONDS),
            wait=wait_fixed(ACQUIRE_POLL_SECONDS),
            reraise=True,
        ):
            with attempt:
                self._acquire_once()
        self._renewed = time.monotonic()

    def _acquire_once(self) -> None:
        try:
            self._etag = self._put(IfNoneMatch="*")
        except ClientError as exc:
            if not is_precondition(exc):
                raise
            self._take_over_stale()

    def _take_over_stale(self) -> None:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self._key)
        except ClientError as exc:
            if not is_missing(exc):
                raise
            # Released meanwhile: take it the normal way (once; a second race is busy).
            try:
                self._etag = self._put(IfNoneMatch="*")
                return
            except ClientError as again:
                if is_precondition(again):
                    raise WriterBusy(f"another writer holds {self._name!r}") from None
                raise
        now = parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        age = (now - head["LastModified"]).total_seconds()
        if age < LEASE_SECONDS:
            raise WriterBusy(f"another writer holds {self._name!r}")
        try:
            self._etag = self._put(IfMatch=head["ETag"])
        except ClientError as exc:
            if is_precondition(exc) or is_missing(exc):
                raise WriterBusy(f"another writer took {self._name!r} first") from None
            raise

    def renew_if_due(self) -> None:
        if time.monotonic() - self._renewed >= RENEW_AFTER:
            self.renew()

    def renew(self) -> None:
        """Extend the lease; LeaseLost if another writer took it meanwhile."""
        assert self._etag is not None, "renewing a lease not held"
        try:
            self._etag = self._put(IfMatch=self._etag)
        except ClientError as exc:
            if is_precondition(exc) or is_missing(exc):
                self._etag = None
                raise LeaseLost(f"the lease on {self._name!r} lapsed and was taken") from None
            raise
        self._renewed = time.monotonic()

    @property
    def held(self) -> bool:
        return self._etag is not None

    def release(self) -> None:
        """Give the name up; nothing happens if another writer took it meanwhile."""
        if self._etag is None:
            return
        etag, self._etag = self._etag, None
        try:
            self._client.delete_object(Bucket=self._bucket, Key=self._key, IfMatch=etag)
        except ClientError as exc:
            if not (is_precondition(exc) or is_missing(exc)):
                raise
