"""The ASGI application: routes, middleware and error handlers over the services that
wiring.py builds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from cargohold.api import accounts, admin, admission, analysis, audit_log, health
from cargohold.api.access_check import AccessCheck
from cargohold.api.access_errors import access_error_handler
from cargohold.api.accesslog import AccessLogMiddleware
from cargohold.api.auth import ROUTES as AUTH_ROUTES
from cargohold.api.bodyguard import BodyGuardMiddleware
from cargohold.api.boundary import close_pool, in_pool, open_pool
from cargohold.api.context import AppContext
from cargohold.api.diskguard import DiskSpaceGuard, disk_full_handler
from cargohold.api.errors import (
    client_disconnect_handler,
    http_error_handler,
    registry_error_handler,
    unexpected_error_handler,
)
from cargohold.api.forwarded import ForwardedFor
from cargohold.api.readiness import Readiness
from cargohold.api.route_guard import guard_routes
from cargohold.api.v2.base import version_check
from cargohold.api.v2.blobs import blob
from cargohold.api.v2.catalog import catalog
from cargohold.api.v2.manifests import manifest
from cargohold.api.v2.referrers import referrers
from cargohold.api.v2.tags import tags_list
from cargohold.api.v2.uploads import start_upload, upload_session
from cargohold.config import SETTINGS_ENV, Settings
from cargohold.errors import RegistryError
from cargohold.jobs.queue import NodeLeader
from cargohold.logs import configure_logging
from cargohold.metrics.multiproc import ensure_server_dir, forget_this_process
from cargohold.services.access_errors import AccessError
from cargohold.services.extension_points import PULL_GATE_REFRESH_SECONDS
from cargohold.services.token_revocations import REFRESH_SECONDS as TOKEN_REVOCATION_REFRESH_SECONDS
from cargohold.wiring import Services, build_services

log = logging.getLogger("cargohold.api")

# The router tries routes in order, one regular expression each: the pull path's two come
# first (a blob HEAD used to try seven others before its own), then the rest of /v2/ and the
# token endpoint, which every docker push and pull asks first (it used to try some sixty admin
# routes before its own, about 5 % of a token request's CPU). No two routes match the same
# path and method, so the order changes nothing else: where a path fits two patterns (a
# blob digest named "uploads"), the methods differ.
MANIFESTS_ROUTE = "/v2/{name:path}/manifests/{reference}"
ROUTES = [
    Route(MANIFESTS_ROUTE, manifest, methods=["GET", "HEAD", "PUT", "DELETE"]),
    Route("/v2/{name:path}/blobs/{digest}", blob, methods=["GET", "HEAD", "DELETE"]),
    Route("/v2/", version_check, methods=["GET"]),
    Route("/v2/_catalog", catalog, methods=["GET"]),
    Route("/v2/{name:path}/tags/list", tags_list, methods=["GET"]),
    Route("/v2/{name:path}/blobs/uploads/", start_upload, methods=["POST"]),
    Route("/v2/{name:path}/blobs/uploads", start_upload, methods=["POST"]),
    Route(
        "/v2/{name:path}/blobs/uploads/{upload_id}",
        upload_session,
        methods=["GET", "PATCH", "PUT", "DELETE"],
    ),
    Route("/v2/{name:path}/referrers/{digest}", referrers, methods=["GET"]),
    *AUTH_ROUTES,
    Route("/api/v1/openapi.json", admin.openapi, methods=["GET"]),
    Route("/api/v1/system", admin.system_info, methods=["GET"]),
    Route("/api/v1/repositories", admin.repositories, methods=["GET"]),
    Route("/api/v1/repositories/{name:path}/tags", admin.repository_tags, methods=["GET"]),
    Route("/api/v1/tag-rules", admin.list_tag_rules, methods=["GET"]),
    Route("/api/v1/tag-rules", admin.add_tag_rule, methods=["POST"]),
    Route("/api/v1/tag-rules/{rule_id}", admin.remove_tag_rule, methods=["DELETE"]),
    Route("/api/v1/audit", audit_log.audit, methods=["GET"]),
    Route("/api/v1/gc", admin.garbage_collect, methods=["POST"]),
    Route("/api/v1/fsck", admin.fsck, methods=["POST"]),
    Route("/api/v1/jobs", admin.list_jobs, methods=["GET"]),
    Route("/api/v1/jobs", admin.submit_job, methods=["POST"]),
    Route("/api/v1/jobs/{job_id}", admin.job, methods=["GET"]),
    Route("/api/v1/storage", admin.storage_report, methods=["GET"]),
    Route(
        "/api/v1/repositories/{name:path}/manifests/{reference}/analysis",
        analysis.image_analysis,
        methods=["GET"],
    ),
    Route(
        "/api/v1/projects/{project}/quota",
        admin.project_quota,
        methods=["GET", "PUT", "DELETE"],
    ),
    Route("/api/v1/holds", admin.list_holds, methods=["GET"]),
    Route("/api/v1/holds", admin.add_hold, methods=["POST"]),
    Route("/api/v1/holds/{hold_id}", admin.release_hold, methods=["DELETE"]),
    Route(
        "/api/v1/repositories/{name:path}/lifecycle",
        admin.lifecycle_policy,
        methods=["GET", "PUT", "DELETE"],
    ),
    Route(
        "/api/v1/repositories/{name:path}/lifecycle/apply",
        admin.lifecycle_apply,
        methods=["POST"],
    ),
    Route(
        "/api/v1/repositories/{name:path}/lifecycle/preview",
        admin.lifecycle_preview,
        methods=["POST"],
    ),
    # Accounts (api/accounts.py). /users/me before /users/{name}: the same path for a GET.
    Route("/api/v1/users", accounts.list_users, methods=["GET"]),
    Route("/api/v1/users", accounts.create_user, methods=["POST"]),
    Route("/api/v1/users/me", accounts.me, methods=["GET"]),
    Route("/api/v1/users/{name}", accounts.user, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/v1/users/{name}/password", accounts.set_password, methods=["PUT"]),
    Route("/api/v1/users/{name}/tokens", accounts.user_tokens, methods=["GET", "POST"]),
    Route("/api/v1/users/{name}/tokens/{token}", accounts.delete_user_token, methods=["DELETE"]),
    Route("/api/v1/projects", accounts.projects, methods=["GET", "POST"]),
    Route("/api/v1/projects/{project}", accounts.project, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/v1/projects/{project}/members", accounts.members, methods=["GET", "POST"]),
    Route("/api/v1/projects/{project}/members/{user}", accounts.member, methods=["PUT", "DELETE"]),
    Route("/api/v1/robots", accounts.robots, methods=["GET", "POST"]),
    Route("/api/v1/robots/{name}", accounts.robot, methods=["GET", "DELETE"]),
    Route("/api/v1/robots/{name}/refresh", accounts.refresh_robot, methods=["POST"]),
    Route("/api/v1/robots/{name}/revoke", accounts.revoke_robot, methods=["POST"]),
    # The Kubernetes admission webhook (api/admission.py).
    *admission.ROUTES,
    # Probes and metrics (api/health.py).
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
    Route("/metrics", health.metrics, methods=["GET"]),
]


async def _expire_idle_uploads(ctx: AppContext) -> None:
    """Drop upload sessions idle past the expiry, a few times per expiry period (on the pool:
    it deletes rows and files)."""
    interval = max(1.0, min(600.0, ctx.settings.upload_expiry_seconds / 4))
    while True:
        await asyncio.sleep(interval)
        try:
            await in_pool(ctx.uploads.expire_idle)
            await in_pool(ctx.space.restore)
        except Exception:
            log.exception("expiring idle uploads failed; will retry")


async def _refresh_every(
    seconds: float, refresh: Callable[[], None], what: str, read_already: bool = False
) -> None:
    """Read again, on the pool, what requests answer from memory: what the pull gates answer
    from (a scan policy set through another process; decision 017), whose registry tokens
    stopped counting (services/token_revocations.py). `read_already`: the first read was made
    before serving, so the loop starts with a wait."""
    if read_already:
        await asyncio.sleep(seconds)
    while True:
        try:
            await in_pool(refresh)
        except Exception:
            log.exception("refreshing %s failed; will retry", what)
        await asyncio.sleep(seconds)


# How often a server process forgets counters that no longer count: pull-limit windows that
# have ended and failed-login counts that slow down or lock nothing (DELETEs on the pool; such
# a counter counts nothing even before it is purged). Without it, logins under made-up names
# from ever new addresses would grow the failed-login table without end.
ENDED_COUNTER_PURGE_SECONDS = 600.0


async def _purge_ended_counters(ctx: AppContext) -> None:
    while True:
        await asyncio.sleep(ENDED_COUNTER_PURGE_SECONDS)
        try:
            if ctx.pull_limits.enabled:
                await in_pool(ctx.pull_limits.purge)
            await in_pool(ctx.access.identity.forget_old_failures)
        except Exception:
            log.exception("purging ended counters failed; will retry")


def _scanning_routes() -> Sequence[BaseRoute]:
    from cargohold.api.scanning import ROUTES as SCANNING_ROUTES

    return SCANNING_ROUTES


def _signatures_routes() -> Sequence[BaseRoute]:
    from cargohold.api.trust import ROUTES as SIGNATURES_ROUTES

    return SIGNATURES_ROUTES


# The admin routes of each extension, imported only when it is enabled, so a server with an
# extension off never loads its handlers (and the extension never reaches up into the API).
EXTENSION_ROUTES: dict[str, Callable[[], Sequence[BaseRoute]]] = {
    "scanning": _scanning_routes,
    "signatures": _signatures_routes,
}


def create_app(settings: Settings, services: Services) -> ASGIApp:
    """The ASGI app over services built by the composition root (wiring.build_services),
    with the routes of every enabled extension after the core's."""
    ctx = services

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        open_pool()
        # Read (or, on a first start, make) the token signing keys now, on the pool: a
        # bearer token is verified on the event loop, which must never touch the disk.
        await in_pool(ctx.access.tokens.keys.current)
        ctx.pulls.start()
        leader = NodeLeader(
            Path(ctx.settings.data_dir) / "jobs.lock",
            lambda: ctx.jobs.queue.start(ctx.settings.job_workers),
        )
        if ctx.settings.job_workers:
            leader.start()
        housekeeping = [asyncio.create_task(_expire_idle_uploads(ctx))]
        if ctx.registry.pull_gates:
            gates = _refresh_every(
                PULL_GATE_REFRESH_SECONDS, ctx.registry.refresh_pull_gates, "the pull gates"
            )
            housekeeping.append(asyncio.create_task(gates))
        housekeeping.append(asyncio.create_task(_purge_ended_counters(ctx)))
        if ctx.settings.auth == "on":
            try:  # read before the first request, not 2 s into serving
                await in_pool(ctx.access.tokens.revocations.refresh)
            except Exception:
                log.exception("reading token revocations failed; will retry")
            revocations = _refresh_every(
                TOKEN_REVOCATION_REFRESH_SECONDS,
                ctx.access.tokens.revocations.refresh,
                "token revocations",
                read_already=True,
            )
            housekeeping.append(asyncio.create_task(revocations))
        if metrics is not None:
            metrics.stats.start()
        try:
            yield
        finally:
            for task in housekeeping:
                task.cancel()
            await in_pool(ctx.jobs.flush)
            await in_pool(ctx.jobs.queue.stop)
            await in_pool(leader.stop)
            await in_pool(ctx.pulls.close)
            if metrics is not None:
                # The last counts, then this worker's live gauges go (its counters stay).
                await in_pool(metrics.stats.close)
                forget_this_process(metrics.path)
            close_pool()  # waits for what is still running: the process is stopping

    access_check = AccessCheck(settings, ctx.access)
    routes = [
        *ROUTES,
        *(r for ext in ctx.enabled_extensions() for r in EXTENSION_ROUTES[ext.name]()),
    ]
    # Every route checks its caller first (api/route_access.py says for what; a route it
    # does not list stops the app here).
    guarded = guard_routes(routes, access_check)
    metrics = _metrics_endpoint(settings, ctx, guarded)
    app = Starlette(
        routes=guarded,
        lifespan=lifespan,
        exception_handlers={
            RegistryError: registry_error_handler,
            AccessError: access_error_handler,
            ClientDisconnect: client_disconnect_handler,
            HTTPException: http_error_handler,
            # A full disk surfaces as one of these; anything else they raise stays a 500.
            OSError: disk_full_handler,
            sqlite3.Error: disk_full_handler,
            sa.exc.DBAPIError: disk_full_handler,
            Exception: unexpected_error_handler,
        },
    )
    if ctx.registry.meta.dialect == "postgresql":
        import psycopg  # the hot path's raw driver errors (meta/fastpath.py)

        app.add_exception_handler(psycopg.Error, disk_full_handler)
    app.state.ctx = ctx
    app.state.access_check = access_check
    app.state.readiness = Readiness(ctx.health.checks(), settings.readiness_timeout_seconds)
    app.state.metrics = metrics
    bounded = BodyGuardMiddleware(
        DiskSpaceGuard(app, ctx.space),
        settings.body_read_timeout_seconds,
        settings.max_uploads_per_client,
    )
    logged = AccessLogMiddleware(
        bounded,
        enabled=settings.access_log,
        stats=metrics.stats if metrics is not None else None,
    )
    trusted = settings.trusted_proxy_networks
    return ForwardedFor(logged, trusted) if trusted else logged


def _metrics_endpoint(
    settings: Settings, ctx: Services, routes: Sequence[BaseRoute]
) -> health.MetricsEndpoint | None:
    """This process's request metrics over the app's routes (None: `metrics = false`)."""
    if not settings.metrics:
        return None
    path = ensure_server_dir()  # before prometheus-client is imported (metrics/multiproc.py)
    from cargohold.metrics.requests import RequestStats

    templates = {route.endpoint: route.path for route in routes if isinstance(route, Route)}
    manifests = next(endpoint for endpoint, path in templates.items() if path == MANIFESTS_ROUTE)
    stats = RequestStats(
        templates, manifests, lambda: [project.name for project in ctx.access.projects.all()]
    )
    return health.MetricsEndpoint(path, stats)


def app_from_env() -> ASGIApp:
    """Factory for server workers: settings arrive serialised in the environment."""
    settings = Settings.from_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, build_services(settings, lean=True, observed=True))
