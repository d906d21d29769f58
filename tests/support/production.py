"""Settings of a cargohold server on the production stores: PostgreSQL metadata, blobs in S3
(SeaweedFS), the job queue and pull-limit counters in Redis."""

from __future__ import annotations

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from cargohold.config import Settings
from cargohold.storage.s3.keys import KeyLayout
from tests.support.seaweedfs import SeaweedServer


def production_env(
    seaweedfs: SeaweedServer, prefix: str, redis_url: str, database_url: str
) -> dict[str, str]:
    """CARGOHOLD_* settings of a server on the production stores: PostgreSQL metadata, S3
    blobs, the job queue and pull-limit counters in Redis (used once a limit is set)."""
    return {
        **seaweedfs.settings_env(prefix),
        "CARGOHOLD_DATABASE_URL": database_url,
        "CARGOHOLD_JOB_STORE": redis_url,
        "CARGOHOLD_PULL_LIMIT_STORE": redis_url,
    }


def _bucket_client(settings: Settings) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        config=Config(s3={"addressing_style": "path"}),
    )


def stored_object(settings: Settings, digest: str) -> bytes | None:
    """The bytes of a blob in the bucket a server on S3 uses (None: no object)."""
    client = _bucket_client(settings)
    key = KeyLayout(settings.s3_prefix).blob(digest)
    try:
        return bytes(client.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def staged_objects(settings: Settings, upload: str) -> list[str]:
    """The keys an upload session still has in the bucket."""
    client = _bucket_client(settings)
    prefix = KeyLayout(settings.s3_prefix).session(upload)
    listed = client.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]
