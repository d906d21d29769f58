"""The services' events (services/events.py), counted in prometheus-client metrics.

These happen a few times a minute at most (a job, a GC pass, a scan), so they use
prometheus-client's metrics as they are; in a server process each write goes to that process's
multiprocess file. The series every server has are made at zero when the sink is built, so a
rate or an `increase()` over them is defined before the first event.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from cargohold.metrics.families import (
    GC_FREED_BLOBS,
    GC_FREED_BYTES,
    GC_LAST_RUN,
    GC_RUNS,
    GC_UNTAGGED,
    JOB_BUCKETS,
    JOB_DURATION,
    LIFECYCLE_DELETED,
    LIFECYCLE_FREED,
    LIFECYCLE_RUNS,
    SCAN_FINDINGS,
    SCAN_RESULTS,
    SCANS,
    SEVERITIES,
    Family,
)
from cargohold.services.events import (
    Event,
    GcFinished,
    JobFinished,
    LifecycleApplied,
    ScanFinished,
)


def _counter(family: Family) -> Counter:
    # registry=None: /metrics reads the multiprocess files, never a registry of this process.
    return Counter(family.name, family.help, family.labels, registry=None)


class MetricsSink:
    """An event sink (services/events.EventSink) that counts."""

    def __init__(self) -> None:
        self.job_seconds = Histogram(
            JOB_DURATION.name,
            JOB_DURATION.help,
            JOB_DURATION.labels,
            buckets=JOB_BUCKETS,
            registry=None,
        )
        self.gc_runs = _counter(GC_RUNS)
        self.gc_blobs = _counter(GC_FREED_BLOBS)
        self.gc_bytes = _counter(GC_FREED_BYTES)
        self.gc_untagged = _counter(GC_UNTAGGED)
        # The latest over every process, dead ones included ("max").
        self.gc_last_run = Gauge(
            GC_LAST_RUN.name, GC_LAST_RUN.help, registry=None, multiprocess_mode="max"
        )
        self.lifecycle_runs = _counter(LIFECYCLE_RUNS)
        self.lifecycle_deleted = _counter(LIFECYCLE_DELETED)
        self.lifecycle_freed = _counter(LIFECYCLE_FREED)
        self.scans = _counter(SCANS)
        self.findings = _counter(SCAN_FINDINGS)
        for mode in ("run", "dry_run"):
            self.gc_runs.labels(mode)
        for result in SCAN_RESULTS:
            self.scans.labels(result)
        for severity in SEVERITIES:
            self.findings.labels(severity)

    def __call__(self, event: Event) -> None:
        match event:
            case JobFinished(kind, _, seconds):
                # Runs and failures are counted in the metadata store (metrics/store.py).
                self.job_seconds.labels(kind).observe(seconds)
            case GcFinished(dry_run, blobs, freed, untagged, _):
                self.gc_runs.labels("dry_run" if dry_run else "run").inc()
                if not dry_run:
                    self.gc_blobs.inc(blobs)
                    self.gc_bytes.inc(freed)
                    self.gc_untagged.inc(untagged)
                    self.gc_last_run.set(time.time())
            case LifecycleApplied(deleted, freed):
                self.lifecycle_runs.inc()
                self.lifecycle_deleted.inc(deleted)
                self.lifecycle_freed.inc(freed)
            case ScanFinished(result, findings):
                self.scans.labels(result).inc()
                for severity, count in findings.items():
                    if count:
                        label = severity if severity in SEVERITIES else "UNKNOWN"
                        self.findings.labels(label).inc(count)
