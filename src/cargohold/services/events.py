"""Events: what the services tell observers after they did something (the metrics count them).

An event sink is an extension point like the on-push hooks (services/extension_points.py):
the composition root (wiring.py) hands every service that has events the same sequence of
sinks, and the service calls each in order once the work is done. A sink must be quick (a
counter increment: it runs on the thread that did the work) and what it raises is logged and
ignored: observing never fails the work. The services never know who listens; a process with
no sinks pays one empty loop per event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger("cargohold.events")


@dataclass(frozen=True)
class JobFinished:
    """A tracked or untracked job ran to its end (`succeeded` False: it raised)."""

    kind: str
    succeeded: bool
    seconds: float


@dataclass(frozen=True)
class GcFinished:
    """A garbage collection pass ended (a dry run frees nothing: `blobs` and `bytes` are what
    it would have freed, and `dry_run` says so)."""

    dry_run: bool
    blobs: int
    bytes: int
    untagged_manifests: int
    seconds: float


@dataclass(frozen=True)
class LifecycleApplied:
    """A repository's lifecycle policy was applied: manifests deleted and the bytes of blobs
    only they referenced (collected by the next GC)."""

    manifests_deleted: int
    bytes_freed: int


@dataclass(frozen=True)
class ScanFinished:
    """A scan of one image manifest (a platform of an index counts alone): `result` is
    "scanned" (inventoried now), "reused" (a stored inventory re-evaluated) or "failed"; the
    findings of a fresh scan, by severity level (CRITICAL, HIGH, ...)."""

    result: str
    findings: Mapping[str, int]


Event = JobFinished | GcFinished | LifecycleApplied | ScanFinished
EventSink = Callable[[Event], None]


def notify(sinks: Sequence[EventSink], event: Event) -> None:
    """Tell every sink, in order; one that raises is logged and the next still hears it."""
    for sink in sinks:
        try:
            sink(event)
        except Exception:
            log.exception("event sink %r failed on %r", sink, event)
