"""The text /metrics answers: every process's files merged, and the stores' figures."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from cargohold.metrics.multiproc import reap_dead_workers
from cargohold.metrics.store import StoreCollector, StoreFigures

# The Prometheus text format, version 0.0.4 (what generate_latest writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(path: Path, figures: StoreFigures | None) -> bytes:
    """The exposition of the server whose processes write to `path` (blocking: file reads)."""
    reap_dead_workers(path)
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, str(path))
    registry.register(StoreCollector(figures))
    return generate_latest(registry)
