"""The boto3 client of the driver, built from its options, and how its errors are read.

Retries are botocore's own (standard mode: throttling, 5xx and connection errors, with
backoff), so the driver has no retry loops of its own. Timeouts are bounded so that no
request, and so no lease (lease.py), waits forever on a store that went away.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# Per request: connecting, then each read of the answer; attempts include the first.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60
MAX_ATTEMPTS = 5
# The server's request threads (api/boundary.POOL_THREADS) and the job threads share it.
MAX_CONNECTIONS = 32
# Objects are read back in pieces of this size.
READ_PIECE = 1024 * 1024

_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


class S3Unavailable(Exception):
    """The store cannot be used: unreachable, no such bucket, or the credentials are refused.
    The message is one line, names the endpoint and bucket, and never a secret."""


@dataclass(frozen=True)
class S3Options:
    bucket: str
    endpoint_url: str = ""  # "": AWS S3 itself
    region: str = ""
    # Both empty: boto3's own chain (AWS_* variables, shared files, instance roles).
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    prefix: str = ""
    path_style: bool = False
    # Blob GETs answered with a 307 to a presigned URL valid this long (distribution's
    # `redirect` option); False: streamed through the server.
    redirect: bool = False
    redirect_expiry_seconds: int = 1200

    @property
    def where(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'}"


def make_client(options: S3Options) -> BaseClient:
    credentials: dict[str, Any] = {}
    if options.access_key_id or options.secret_access_key:
        credentials = {
            "aws_access_key_id": options.access_key_id,
            "aws_secret_access_key": options.secret_access_key,
        }
    return boto3.session.Session().client(
        "s3",
        endpoint_url=options.endpoint_url or None,
        region_name=options.region or None,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if options.path_style else "auto"},
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            max_pool_connections=MAX_CONNECTIONS,
            # Only when the operation requires one: some S3-compatible stores refuse the
            # newer default checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
        **credentials,
    )


def list_objects(client: BaseClient, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under `prefix`, as ListObjectsV2 describes it (Key, Size,
    LastModified, ...), page after page."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        yield from page.get("Contents", [])


def open_multipart_uploads(
    client: BaseClient, bucket: str, prefix: str
) -> Iterator[dict[str, Any]]:
    """The multipart uploads begun under `prefix` and neither completed nor aborted."""
    try:
        for page in client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            yield from page.get("Uploads", [])
    except ClientError as exc:
        if not is_missing(exc):
            raise


def read_object(
    client: BaseClient, bucket: str, key: str, start: int = 0, end: int | None = None
) -> Iterator[bytes]:
    """Bytes [start, end) of an object (to its end if `end` is None), in pieces: one GET,
    ranged unless the whole object is asked for, sent at the first piece."""
    if end is not None and end <= start:
        return
    request = {"Bucket": bucket, "Key": key}
    if start or end is not None:
        request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
    answer = client.get_object(**request)
    with contextlib.closing(answer["Body"]) as body:
        yield from body.iter_chunks(READ_PIECE)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_missing(exc: ClientError) -> bool:
    return error_code(exc) in _MISSING


def is_precondition(exc: ClientError) -> bool:
    return error_code(exc) in _PRECONDITION


def check_store(client: BaseClient, options: S3Options) -> None:
    """S3Unavailable unless the bucket answers to these credentials (a start-up check)."""
    try:
        client.head_bucket(Bucket=options.bucket)
    except ClientError as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            reason = "no such bucket"
        elif code in ("403", "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"):
            reason = "access denied (check s3_access_key_id and s3_secret_access_key)"
        else:
            reason = f"{code or 'error'}: {exc.response.get('Error', {}).get('Message', '')}"
        raise S3Unavailable(f"S3 {options.where}: {reason}") from None
    except BotoCoreError as exc:
        # NoCredentialsError, EndpointConnectionError, ...: their messages hold no secrets.
        raise S3Unavailable(f"S3 {options.where}: {exc}") from None
