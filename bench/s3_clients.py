"""boto3 against obstore on the operations the S3 blob driver does most (decision 026).

Starts a SeaweedFS (tests/support/seaweedfs.py) and times, per client, put / stat / get of
small objects (one request each, where per-request overhead shows) and of 10 MiB objects
(where the byte path shows). Run: PYTHONPATH=src:. python bench/s3_clients.py
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import boto3
import obstore
from botocore.config import Config
from obstore.store import S3Store
from tests.support.seaweedfs import SeaweedServer

SMALL = 4 * 1024
LARGE = 10 * 1024 * 1024
SMALL_COUNT = 300
LARGE_COUNT = 8
ROUNDS = 3


def timed(work: Callable[[int], object], count: int) -> float:
    """Best of ROUNDS: seconds per operation."""
    runs = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for i in range(count):
            work(i)
        runs.append((time.perf_counter() - started) / count)
    return min(runs)


def measure(name: str, put, stat, get, copy, count: int, data: bytes) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {
        "put": timed(lambda i: put(f"{name}/{len(data)}/{i}", data), count),
        "stat": timed(lambda i: stat(f"{name}/{len(data)}/{i}"), count),
        "get": timed(lambda i: get(f"{name}/{len(data)}/{i}"), count),
        "copy": timed(lambda i: copy(f"{name}/{len(data)}/{i}", f"{name}/copy/{i}"), count),
    }


def main() -> None:
    server = SeaweedServer().start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name=server.region,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )
        bucket = server.bucket

        def b_put(key: str, data: bytes) -> None:
            client.put_object(Bucket=bucket, Key=key, Body=data)

        def b_stat(key: str) -> int:
            return int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])

        def b_copy(source: str, target: str) -> None:
            client.copy_object(
                Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source}
            )

        def b_get(key: str) -> int:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            return sum(len(c) for c in body.iter_chunks(1024 * 1024))

        store = S3Store(
            bucket,
            endpoint=server.endpoint,
            region=server.region,
            access_key_id=server.access_key,
            secret_access_key=server.secret_key,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

        def o_put(key: str, data: bytes) -> None:
            obstore.put(store, key, data)

        def o_stat(key: str) -> int:
            return int(obstore.head(store, key)["size"])

        def o_copy(source: str, target: str) -> None:
            obstore.copy(store, source, target)

        def o_get(key: str) -> int:
            return sum(len(c) for c in obstore.get(store, key).stream(1024 * 1024))

        small, large = os.urandom(SMALL), os.urandom(LARGE)
        rows = []
        for label, count, data in (("4 KiB", SMALL_COUNT, small), ("10 MiB", LARGE_COUNT, large)):
            for client_name, ops in (
                ("boto3", (b_put, b_stat, b_get, b_copy)),
                ("obstore", (o_put, o_stat, o_get, o_copy)),
            ):
                result = measure(client_name, *ops, count, data)
                rows.append((label, client_name, result))
        print("| size | client | put | stat | get | server-side copy |")
        print("| --- | --- | --- | --- | --- | --- |")
        for label, client_name, result in rows:
            cells = []
            for op in ("put", "stat", "get", "copy"):
                seconds = result[op]
                if label == "10 MiB" and op != "stat":
                    cells.append(f"{seconds * 1000:.1f} ms ({LARGE / seconds / 2**20:.0f} MiB/s)")
                else:
                    cells.append(f"{seconds * 1000:.2f} ms")
            print(f"| {label} | {client_name} | " + " | ".join(cells) + " |")
        print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
