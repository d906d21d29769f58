"""A staged upload's commit: its chunk objects and tail assembled at the digest's key.

A multipart upload at the target key gets one UploadPartCopy per chunk (the store copies the
bytes, none pass through the node) and the tail, from memory, as its last part. The copies are
sent by the driver's threads, COPIES_IN_FLIGHT at a time (inflight.py), and their answers are
taken in part order, so the parts listed at completion are in PartNumber order. The caller's
`renew` (the writer's lease) is called after each answer, from the calling thread. On any
failure every request still in flight is waited for, then the multipart upload is aborted:
nothing is left running, and no object appears at the key. docs/decisions/027 and 038 tell why.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.client import BaseClient

from cargohold.storage.s3.inflight import InFlight
from cargohold.storage.s3.multipart import MultipartUpload

# UploadPartCopy requests of one commit in flight at once. One at a time, the commit waits for
# each round trip and the store copies one chunk at a time. SeaweedFS spends about 0.9 CPU
# second per 128 MiB copied: with a core idle, 4 took a 16-chunk commit from about 1.0 s to
# 0.6 s, 8 did no better, and on a loaded machine neither gained (decision 038's amendment).
# A store that copies on many machines (AWS S3) gains more. 4 also bounds what one commit
# takes of the driver's threads and connections (a copy holds no bytes on the node).
COPIES_IN_FLIGHT = 4


def assemble(
    client: BaseClient,
    bucket: str,
    target: str,
    chunk_keys: list[str],
    tail: bytes,
    executor: ThreadPoolExecutor,
    renew: Callable[[], None],
) -> None:
    """Complete the object at `target` from the objects `chunk_keys` (in order, each at least
    a part's minimum size) followed by `tail` (may be empty)."""
    upload = MultipartUpload(client, bucket, target)
    upload.create()
    requests = InFlight(executor, COPIES_IN_FLIGHT)
    parts: list[dict[str, Any]] = []

    def take_oldest() -> None:
        parts.append(requests.wait())
        renew()

    try:
        for number, source in enumerate(chunk_keys, start=1):
            if requests.full:
                take_oldest()
            requests.start(upload.copy_part, number, source)
        if tail:
            if requests.full:
                take_oldest()
            requests.start(upload.upload_part, len(chunk_keys) + 1, tail)
        while requests.pending:
            take_oldest()
        upload.complete(parts)
    except BaseException:
        requests.settle()
        upload.abort()
        raise
