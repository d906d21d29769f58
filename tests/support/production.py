"""Settings of a cargohold server on the production stores: PostgreSQL metadata, blobs in S3
(SeaweedFS), the job queue and pull-limit counters in Redis."""

from __future__ import annotations

from cargohold.config import Settings
from cargohold.meta.db import make_engine
from cargohold.meta.store import MetadataStore
from cargohold.storage.s3 import S3BlobStore
from cargohold.wiring import blob_store_from_settings
from tests.support.seaweedfs import SeaweedServer, object_bytes, session_keys


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


def _store(settings: Settings) -> S3BlobStore:
    meta = MetadataStore(make_engine(settings.metadata_url))
    store = blob_store_from_settings(settings, meta)
    assert isinstance(store, S3BlobStore), settings.storage_driver
    return store


def located_store(seaweedfs: SeaweedServer, prefix: str, database_url: str) -> S3BlobStore:
    """The S3 driver as the servers on `database_url` run it: it finds a chunked upload's
    blob where its parts went, through the metadata store's blob locations."""
    return seaweedfs.store(prefix, MetadataStore(make_engine(database_url)).blob_locations)


def stored_object(settings: Settings, digest: str) -> bytes | None:
    """The bytes of a blob in the bucket a server on S3 uses (None: no object)."""
    return object_bytes(_store(settings), digest)


def staged_objects(settings: Settings, upload: str) -> list[str]:
    """The keys an upload session still has in the bucket."""
    return session_keys(_store(settings), upload)
