"""What the stores hold, read when /metrics is scraped: counts and bytes from the metadata
store (one statement), the job queue's depth, and the jobs that ended by kind and result (a
counter every process that runs jobs adds to in the metadata store, `cargohold worker`s on
other machines included, which share no multiprocess directory with the server).

They are the same for every process of every node, so they are not per-process values: the
process answering the scrape reads them (api/health.py: on the pool, with a timeout, at most
one read in flight, kept for STORE_MAX_AGE_SECONDS so that several scrapers, or a short scrape
interval, cost one read).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cargohold.meta.listings import StoreTotals
from cargohold.metrics.families import (
    BLOBS,
    JOB_QUEUE_DEPTH,
    JOB_RUNS,
    MANIFESTS,
    REPOSITORIES,
    STORE_AGE,
    STORE_UP,
    STORED_BYTES,
    TAGS,
    UPLOAD_SESSIONS,
    Family,
)

STORE_MAX_AGE_SECONDS = 10.0
# The longest a scrape waits for the read; past it the scrape answers without the figures.
STORE_READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class StoreFigures:
    totals: StoreTotals
    queue_depth: int
    job_runs: dict[tuple[str, str], int]  # (kind, result) -> runs
    read_at: float  # time.monotonic()


def _gauge(family: Family, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(family.name, family.help, value=value)


class StoreCollector(Collector):
    """The figures of one read (None: the read failed or timed out)."""

    def __init__(self, figures: StoreFigures | None) -> None:
        self.figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        figures = self.figures
        yield _gauge(STORE_UP, 0 if figures is None else 1)
        if figures is None:
            return
        yield _gauge(STORE_AGE, round(time.monotonic() - figures.read_at, 3))
        totals = figures.totals
        yield _gauge(REPOSITORIES, totals.repositories)
        yield _gauge(MANIFESTS, totals.manifests)
        yield _gauge(TAGS, totals.tags)
        yield _gauge(BLOBS, totals.blobs)
        stored = GaugeMetricFamily(STORED_BYTES.name, STORED_BYTES.help, labels=STORED_BYTES.labels)
        stored.add_metric(["blob"], totals.blob_bytes)
        stored.add_metric(["manifest"], totals.manifest_bytes)
        yield stored
        yield _gauge(UPLOAD_SESSIONS, totals.upload_sessions)
        yield _gauge(JOB_QUEUE_DEPTH, figures.queue_depth)
        runs = CounterMetricFamily(JOB_RUNS.name, JOB_RUNS.help, labels=JOB_RUNS.labels)
        for (kind, result), count in sorted(figures.job_runs.items()):
            runs.add_metric([kind, result], count)
        yield runs
