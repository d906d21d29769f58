"""The request path's metrics: counted per process in plain dicts, written to the server's
multiprocess files by a thread once a second (decision 028).

A prometheus-client counter increment plus a histogram observation in multiprocess mode takes
a lock and writes an mmap'ed file: about 4 µs a request, a tenth of a manifest GET's whole
budget at 20,000 a second. Here a request costs one dict lookup and a few additions on lists
(well under a microsecond), done on the event loop's thread only, so nothing needs a lock:
the publisher thread copies and reads, and a value it reads half-updated is whole at the next
publication. Each process writes its own absolute totals (`set`, not `inc`) into its own files,
where prometheus-client's MultiProcessCollector sums them over the processes, exactly as if
the values had been incremented there.

What a scrape shows is at most PUBLISH_SECONDS old for other workers; the worker answering the
scrape publishes first. A worker killed outright loses what it counted since its last
publication.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import values
from prometheus_client.utils import floatToGoString

from cargohold.metrics.families import (
    DURATION_BUCKETS,
    HTTP_DURATION,
    HTTP_IN_FLIGHT,
    HTTP_METHODS,
    HTTP_RECEIVED,
    HTTP_REQUESTS,
    HTTP_SENT,
    OTHER,
    PULLS,
    PUSHES,
    UNMATCHED_ROUTE,
    Family,
)

log = logging.getLogger("cargohold.metrics")

PUBLISH_SECONDS = 1.0
# How often the names of the projects that exist are read again (labels of refused requests),
# and sooner when a refused request named a project not known here (at most once a
# publication).
PROJECTS_REFRESH_SECONDS = 60.0
# Distinct (project, method, status) of refused requests naming a project not known when they
# came; past it they count under OTHER at once (a client naming random projects must not grow
# memory).
MAX_PENDING_PROJECTS = 1000
_BOUNDS = DURATION_BUCKETS
# An entry: count, seconds, bytes received, bytes sent, then one count per bucket (+Inf last).
_COUNT, _SECONDS, _RECEIVED, _SENT, _BUCKETS = 0, 1, 2, 3, 4
_EMPTY = [0, 0.0, 0, 0] + [0] * (len(_BOUNDS) + 1)


def result_of(status: int) -> str:
    """A push's or pull's result, from its status (families.RESULTS)."""
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    if status == 404:
        return "not_found"
    if status == 429:
        return "throttled"
    if status < 500:
        return "invalid"
    return "error"


class _Series:
    """Values in this process's multiprocess files, one per label set, set to absolute
    totals (prometheus-client's value class: what its metrics write through)."""

    def __init__(self, kind: str, family: Family, sample: str, mode: str = "") -> None:
        self.kind = kind
        self.family = family
        self.sample = sample
        self.mode = mode
        self._values: dict[tuple[str, ...], Any] = {}
        self._last: dict[tuple[str, ...], float] = {}

    def set(self, labels: tuple[str, ...], value: float, names: tuple[str, ...] = ()) -> None:
        if self._last.get(labels) == value:
            return
        held = self._values.get(labels)
        if held is None:
            held = self._values[labels] = values.ValueClass(
                self.kind,
                self.family.name,
                self.sample,
                names or self.family.labels,
                labels,
                self.family.help,
                multiprocess_mode=self.mode,
            )
        held.set(value)
        self._last[labels] = value


class RequestStats:
    """One server process's request counts (see the module docstring).

    `routes` maps each route's endpoint (what Starlette's router puts in the scope) to its
    template; `manifest_endpoint` is the manifests route's, whose GETs are pulls and PUTs
    pushes; `project_names` reads the projects that exist (off the request path)."""

    def __init__(
        self,
        routes: Mapping[object, str],
        manifest_endpoint: object,
        project_names: Callable[[], Iterable[str]],
    ) -> None:
        self._routes = dict(routes)
        self._manifest_endpoint = manifest_endpoint
        self._project_names = project_names
        # (endpoint, method, status) -> entry (see _EMPTY); written by the event loop only.
        self._entries: dict[tuple[object, str, int], list[Any]] = {}
        # (project, method, status) -> count, for manifest GETs and PUTs whose project is
        # known to exist (a success's always is).
        self._manifests: dict[tuple[str, str, int], int] = {}
        # The same for refused ones whose project was not known when they came: the publisher
        # decides once per name whether it exists (its label) or not (OTHER), so that no
        # count ever moves from one label to another.
        self._pending: dict[tuple[str, str, int], int] = {}
        self._label_of: dict[str, str] = {}
        # Written by the event loop (a success's project) and the publisher (the store's):
        # set.add and set.update are atomic.
        self._known_projects: set[str] = set()
        self._projects_read_at = -PROJECTS_REFRESH_SECONDS
        self.in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        histogram_labels = (*HTTP_DURATION.labels, "le")
        self._bucket_names = histogram_labels
        self._requests = _Series("counter", HTTP_REQUESTS, HTTP_REQUESTS.name + "_total")
        self._buckets = _Series("histogram", HTTP_DURATION, HTTP_DURATION.name + "_bucket")
        self._sums = _Series("histogram", HTTP_DURATION, HTTP_DURATION.name + "_sum")
        self._received = _Series("counter", HTTP_RECEIVED, HTTP_RECEIVED.name + "_total")
        self._sent = _Series("counter", HTTP_SENT, HTTP_SENT.name + "_total")
        self._pushes = _Series("counter", PUSHES, PUSHES.name + "_total")
        self._pulls = _Series("counter", PULLS, PULLS.name + "_total")
        self._in_flight = _Series("gauge", HTTP_IN_FLIGHT, HTTP_IN_FLIGHT.name, "livesum")
        self._le = [floatToGoString(bound) for bound in (*_BOUNDS, float("inf"))]

    # -- the request path (the event loop's thread) ------------------------------------------

    def observe(
        self, scope: dict[str, Any], status: int, seconds: float, received: int, sent: int
    ) -> None:
        endpoint = scope.get("endpoint")
        method = scope["method"]
        if method not in HTTP_METHODS:
            method = OTHER
        key = (endpoint, method, status)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = list(_EMPTY)
        entry[_COUNT] += 1
        entry[_SECONDS] += seconds
        entry[_RECEIVED] += received
        entry[_SENT] += sent
        entry[_BUCKETS + bisect_left(_BOUNDS, seconds)] += 1
        if endpoint is self._manifest_endpoint and (method == "GET" or method == "PUT"):
            project = scope["path_params"]["name"].partition("/")[0]
            counts = self._manifests
            counted = (project, method, status)
            if status < 400:
                self._known_projects.add(project)
            elif project not in self._known_projects:
                # A refused request may name anything: only a project that exists is a label.
                if counted in self._pending or len(self._pending) < MAX_PENDING_PROJECTS:
                    counts = self._pending
                else:
                    counted = (OTHER, method, status)
            counts[counted] = counts.get(counted, 0) + 1

    # -- publishing (the publisher thread, or a scrape on the pool) ---------------------------

    def publish(self, now: float | None = None) -> None:
        """Write this process's totals to its multiprocess files."""
        with self._lock:
            self._publish(now)

    def _publish(self, now: float | None) -> None:
        now = time.monotonic() if now is None else now
        pending = self._pending.copy()
        unresolved = any(project not in self._label_of for project, _, _ in pending)
        if unresolved or now - self._projects_read_at >= PROJECTS_REFRESH_SECONDS:
            self._projects_read_at = now
            try:
                self._known_projects.update(self._project_names())
            except Exception:
                log.exception("reading the project names for metric labels failed; will retry")
        known = self._known_projects
        label_of = self._label_of
        manifests = self._manifests.copy()
        for (project, method, status), count in pending.items():
            label = label_of.get(project)
            if label is None:
                label = label_of[project] = project if project in known else OTHER
            counted = (label, method, status)
            manifests[counted] = manifests.get(counted, 0) + count
        entries = [(key, list(entry)) for key, entry in self._entries.copy().items()]
        by_route: dict[tuple[str, str], list[Any]] = {}
        for (endpoint, method, status), entry in entries:
            route = self._routes.get(endpoint, UNMATCHED_ROUTE)
            self._requests.set((route, method, str(status)), entry[_COUNT])
            total = by_route.get((route, method))
            if total is None:
                by_route[(route, method)] = entry
            else:
                by_route[(route, method)] = [a + b for a, b in zip(total, entry, strict=True)]
        for (route, method), entry in by_route.items():
            labels = (route, method)
            self._sums.set(labels, entry[_SECONDS])
            self._received.set(labels, entry[_RECEIVED])
            self._sent.set(labels, entry[_SENT])
            for le, count in zip(self._le, entry[_BUCKETS:], strict=True):
                # Each bucket holds only its own observations: the collector accumulates them.
                self._buckets.set((route, method, le), count, self._bucket_names)
        results: dict[tuple[str, str, str], int] = {}
        for (project, method, status), count in manifests.items():
            counted = (method, project, result_of(status))
            results[counted] = results.get(counted, 0) + count
        for (method, project, result), count in results.items():
            series = self._pulls if method == "GET" else self._pushes
            series.set((project, result), count)
        self._in_flight.set((), self.in_flight)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="metrics-publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(PUBLISH_SECONDS):
            try:
                self.publish()
            except Exception:
                log.exception("publishing request metrics failed; will retry")

    def close(self) -> None:
        """Stop the publisher and write the last totals (a clean stop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.in_flight = 0
        self.publish()
