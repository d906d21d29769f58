"""/healthz, /readyz and /metrics: what load balancers, Kubernetes probes and Prometheus ask.

- `/healthz`: the process lives and its event loop answers; no store is asked.
- `/readyz`: the metadata store, the blob store and the job queue each answered a round trip
  within `readiness_timeout_seconds` (api/readiness.py); 503 naming the ones that did not.
- `/metrics`: the Prometheus text of every process of this server (metrics/, decision 028);
  404 when `metrics = false`.

cargohold.metrics is imported only by the app factory, once the multiprocess directory is set
(metrics/multiproc.py): hence the imports inside functions here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.boundary import SingleFlight, in_pool
from cargohold.api.context import AppContext, context
from cargohold.api.encoding import json_response
from cargohold.api.models.health import Health, Readiness
from cargohold.api.readiness import OK

if TYPE_CHECKING:
    from cargohold.api.readiness import Readiness as ReadinessChecks
    from cargohold.metrics.requests import RequestStats
    from cargohold.metrics.store import StoreFigures

_HEALTHY = Health(status="ok")


async def healthz(request: Request) -> Response:
    return json_response(_HEALTHY)


async def readyz(request: Request) -> Response:
    readiness: ReadinessChecks = request.app.state.readiness
    checks = await readiness.probe()
    failed = sorted(name for name, state in checks.items() if state != OK)
    if failed:
        return json_response(
            Readiness(status="not ready", failed=failed, checks=checks), status_code=503
        )
    return json_response(Readiness(status="ready", failed=[], checks=checks))


class MetricsEndpoint:
    """This process's side of /metrics: its request counts, and the stores' figures (read on
    the pool with a timeout, one read in flight, kept for a few seconds)."""

    def __init__(self, path: Path, stats: RequestStats) -> None:
        self.path = path
        self.stats = stats
        self._figures: StoreFigures | None = None
        self._reading: SingleFlight[StoreFigures] = SingleFlight()

    async def figures(self, ctx: AppContext) -> StoreFigures | None:
        """The stores' figures, or None when they could not be read in time."""
        from cargohold.metrics.store import (
            STORE_MAX_AGE_SECONDS,
            STORE_READ_TIMEOUT_SECONDS,
            StoreFigures,
        )

        cached = self._figures
        if cached is not None and time.monotonic() - cached.read_at < STORE_MAX_AGE_SECONDS:
            return cached

        def read() -> StoreFigures:
            totals = ctx.listings.store_totals()
            return StoreFigures(
                totals, ctx.jobs.queue.pending(), ctx.jobs.end_counts(), time.monotonic()
            )

        try:
            self._figures = await self._reading.wait(
                lambda: in_pool(read), STORE_READ_TIMEOUT_SECONDS
            )
        except Exception:
            return None
        return self._figures

    def text(self, figures: StoreFigures | None) -> bytes:
        from cargohold.metrics.exposition import render

        self.stats.publish()  # this process's counts as of now; the others' are at most 1 s old
        return render(self.path, figures)


async def metrics(request: Request) -> Response:
    endpoint: MetricsEndpoint | None = request.app.state.metrics
    if endpoint is None:
        raise HTTPException(404)
    from cargohold.metrics.exposition import CONTENT_TYPE

    figures = await endpoint.figures(context(request))
    body = await in_pool(endpoint.text, figures)
    return Response(body, headers={"content-type": CONTENT_TYPE})
