"""The text /metrics answers: every process's files merged, and the stores' figures."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from cargohold.metrics.multiproc import reap_dead_workers
from cargohold.metrics.store import StoreCollector, StoreFigures

# The Prometheus text format, version 0.0.4 (what generate_latest writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerFiles(Collector):
    """MultiProcessCollector's merge over the directory's files, but for files a process is
    creating right now: one still empty (created, not yet sized) would stop the whole read;
    it holds nothing yet and is read by the next scrape."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        files = []
        for entry in self.path.glob("*.db"):
            try:
                if entry.stat().st_size > 0:
                    files.append(str(entry))
            except FileNotFoundError:
                continue  # a dead worker's live gauge, just removed
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-any-return]


def render(path: Path, figures: StoreFigures | None) -> bytes:
    """The exposition of the server whose processes write to `path` (blocking: file reads)."""
    reap_dead_workers(path)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerFiles(path))
    registry.register(StoreCollector(figures))
    return generate_latest(registry)
