"""The shared stores of bench/s3_run.py: SeaweedFS (its S3 gateway) and PostgreSQL, started by
the tests' own support code (tests/support/seaweedfs.py, tests/support/postgres.py), and what
the PostgreSQL server spends: CPU seconds of its processes and pg_stat_database counters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from tests.support.postgres import PostgresServer
from tests.support.seaweedfs import SeaweedServer

import procs
import servers
from procs import cpu_seconds, peak_rss_mib, pss_mib, reaped_cpu_seconds
from run import Bench

CARGOHOLD_PREFIX = "cargohold"
DISTRIBUTION_BUCKET = "distribution"
# PostgreSQL 15+ backends flush their statistics at most once a second while busy and 10 s
# after going idle: pg_stat_database shows a run's counters only that long after it.
PG_STATS_FLUSH_SECONDS = 11.0


@dataclass(frozen=True)
class PgCost:
    """One reading of the PostgreSQL server: CPU seconds of all its processes (live ones, plus
    the children the postmaster has reaped) and its database's counters."""

    cpu_seconds: float
    xact_commit: int
    blks_hit: int
    blks_read: int
    tup_returned: int
    tup_fetched: int
    tup_written: int  # inserted + updated + deleted

    def __sub__(self, other: PgCost) -> PgCost:
        return PgCost(
            self.cpu_seconds - other.cpu_seconds,
            self.xact_commit - other.xact_commit,
            self.blks_hit - other.blks_hit,
            self.blks_read - other.blks_read,
            self.tup_returned - other.tup_returned,
            self.tup_fetched - other.tup_fetched,
            self.tup_written - other.tup_written,
        )


class Stores:
    """SeaweedFS and PostgreSQL for the bench, with the settings that point cargohold and
    distribution at them."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.seaweed = SeaweedServer().start()
        self.seaweed.client().create_bucket(Bucket=DISTRIBUTION_BUCKET)
        self.postgres = PostgresServer().start()
        self.database_url = self.postgres.create_database("cargohold")

    @property
    def seaweed_pid(self) -> int:
        assert self.seaweed._process is not None
        return self.seaweed._process.pid

    @property
    def postgres_pid(self) -> int:
        return int((self.postgres.data / "postmaster.pid").read_text().split()[0])

    def cargohold_env(self, redirect: bool = False) -> dict[str, str]:
        """PostgreSQL metadata, S3 blobs under a prefix of the SeaweedFS bucket, and one token
        key folder for every node (a token from one node is good on the other)."""
        env = self.seaweed.settings_env(CARGOHOLD_PREFIX)
        env["CARGOHOLD_DATABASE_URL"] = self.database_url
        env["CARGOHOLD_S3_REDIRECT"] = "true" if redirect else "false"
        env["CARGOHOLD_AUTH_TOKEN_KEY_DIR"] = str(self.scratch / "token-keys")
        return env

    def distribution_storage(self, redirect: bool) -> str:
        """distribution's S3 driver on the same SeaweedFS, its own bucket."""
        sw = self.seaweed
        return servers.distribution_s3_storage(
            sw.endpoint, sw.region, DISTRIBUTION_BUCKET, sw.access_key, sw.secret_key, redirect
        )

    def presigned_blob_url(self, digest: str) -> str:
        """A presigned GET of cargohold's object for `digest`, made by boto3 (the ceiling)."""
        from cargohold.storage.s3.keys import KeyLayout

        key = KeyLayout(CARGOHOLD_PREFIX).blob(digest)
        return str(
            self.seaweed.client().generate_presigned_url(
                "get_object", Params={"Bucket": self.seaweed.bucket, "Key": key}, ExpiresIn=3600
            )
        )

    def presigned_put_url(self, key: str) -> str:
        """A presigned PUT of `key` in the bucket (the store's own write rate)."""
        return str(
            self.seaweed.client().generate_presigned_url(
                "put_object", Params={"Bucket": self.seaweed.bucket, "Key": key}, ExpiresIn=3600
            )
        )

    def boto3_get_seconds(self, digest: str) -> tuple[int, float]:
        """boto3's get_object of cargohold's object, read in 1 MiB pieces: (bytes, seconds)."""
        from cargohold.storage.s3.keys import KeyLayout

        key = KeyLayout(CARGOHOLD_PREFIX).blob(digest)
        client = self.seaweed.client()
        started = time.perf_counter()
        body = client.get_object(Bucket=self.seaweed.bucket, Key=key)["Body"]
        got = sum(len(c) for c in body.iter_chunks(1 << 20))
        return got, time.perf_counter() - started

    def seaweed_cpu_seconds(self) -> float:
        return cpu_seconds(self.seaweed_pid)

    def seaweed_peak_rss_mib(self) -> float:
        return peak_rss_mib(self.seaweed_pid)[0]

    def postgres_memory_mib(self) -> tuple[float, float]:
        """(sum of VmHWM, sum of Pss now) over PostgreSQL's processes: the first counts the
        shared buffers once per backend."""
        return peak_rss_mib(self.postgres_pid)[0], pss_mib(self.postgres_pid)

    def pg_cost(self, wait: bool = True) -> PgCost:
        """A reading of PostgreSQL's cost so far; `wait`: first give its backends the time to
        flush their statistics."""
        if wait:
            time.sleep(PG_STATS_FLUSH_SECONDS)
        root = self.postgres_pid
        cpu = cpu_seconds(root) + reaped_cpu_seconds(root)
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT xact_commit, blks_hit, blks_read, tup_returned, tup_fetched,"
                " tup_inserted + tup_updated + tup_deleted"
                " FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        assert row is not None
        return PgCost(cpu, *(int(v) for v in row))

    def stop(self) -> None:
        try:
            self.seaweed.stop()
        finally:
            self.postgres.stop()


class S3Bench(Bench):
    """bench/run.py's Bench (its workloads run unchanged on it) with the shared stores."""

    stores: Stores
    # Peak RSS per process (MiB, VmHWM) of each server, read before it stops.
    memory: dict[str, list[float]]

    def stop_servers(self, *names: str) -> None:
        for name in names:
            if name in self.srv:
                self.memory[name] = procs.peak_rss_per_process(self.srv[name].pid)
        self.stop_extra(*names)
