"""The admin JSON API under /api/v1/ (its OpenAPI document is generated: api/openapi/).

Its queries can be long: every service call runs on the boundary's pool (api/boundary.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cargohold.api.bodies import CLOSE, read_body
from cargohold.api.boundary import in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import context
from cargohold.api.encoding import encode, json_response
from cargohold.api.models.jobs import (
    FsckDone,
    FsckProgress,
    FsckReport,
    GcDone,
    GcProgress,
    GcReport,
    GcStart,
    JobList,
    JobRun,
    StreamError,
)
from cargohold.api.models.policy import (
    Hold,
    HoldList,
    LifecyclePolicy,
    LifecyclePreview,
    TagRule,
    TagRuleList,
)
from cargohold.api.models.registry import (
    Quota,
    Repository,
    RepositoryList,
    StorageReport,
    System,
    Tag,
    TagList,
)
from cargohold.api.openapi import served_document
from cargohold.api.params import is_read, json_body, path_id, query_flag
from cargohold.api.route_guard import require, visibility
from cargohold.api.v2.pagination import MAX_PAGE, last_param, next_link, page_size
from cargohold.errors import (
    BodyTooLarge,
    GcBusy,
    HoldRequestInvalid,
    HoldUnknown,
    JobInvalid,
    JobUnknown,
    PolicyInvalid,
    QueryInvalid,
    QuotaInvalid,
    RegistryError,
    TagRuleInvalid,
    TagRuleUnknown,
)
from cargohold.meta.listings import RepositorySummary
from cargohold.oci.names import is_valid_name, project_of
from cargohold.policy.permissions import POLICIES, TAG_RULES
from cargohold.services.access import visible_page


async def system_info(request: Request) -> Response:
    ctx = context(request)
    facts = await in_pool(ctx.listings.system)
    return json_response(System.of(facts, await in_pool(ctx.jobs.queue.pending)))


async def repositories(request: Request) -> Response:
    ctx = context(request)
    n = page_size(request, MAX_PAGE)
    assert n is not None
    last = last_param(request)
    shown = await visibility(request)
    if not n:
        rows = []
    elif shown.everything:
        rows = await in_pool(ctx.listings.repositories, n + 1, last)
    else:
        # Only the repositories the caller may pull.
        rows = await in_pool(
            visible_page, ctx.listings.repositories, _name, shown.repository, n + 1, last
        )
    headers = {}
    if len(rows) > n:
        rows = rows[:n]
        headers["Link"] = next_link("/api/v1/repositories", n, rows[-1].name)
    return json_response(
        RepositoryList(repositories=[Repository.of(r) for r in rows]), headers=headers
    )


def _name(row: RepositorySummary) -> str:
    return row.name


def _target_project(document: object) -> str | None:
    """The project a tag rule's or hold's `target` names; None when it names none (then only
    a system admin may go on, and the service says what is wrong with the document)."""
    target = document.get("target") if isinstance(document, dict) else None
    return project_of(target) if isinstance(target, str) and is_valid_name(target) else None


async def repository_tags(request: Request) -> Response:
    ctx = context(request)
    name = request.path_params["name"]
    rows = await in_pool(ctx.listings.tags, name)
    return json_response(TagList(name=name, tags=[Tag.of(row, trust) for row, trust in rows]))


async def openapi(request: Request) -> Response:
    """The admin API's description, of the routes this server serves (encoded once)."""
    state = request.app.state
    body = getattr(state, "openapi_body", None)
    if body is None:
        served = {route.path for route in request.app.routes if isinstance(route, Route)}
        body = state.openapi_body = encode(served_document(served))
    return Response(body, media_type="application/json")


MAX_POLICY_BYTES = 64 * 1024


def _policy_too_large(limit: int) -> RegistryError:
    return BodyTooLarge(f"a lifecycle policy may be at most {limit} bytes", headers=CLOSE)


async def _policy_body(request: Request) -> str:
    body = await read_body(request, MAX_POLICY_BYTES, _policy_too_large)
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise PolicyInvalid("a lifecycle policy must be UTF-8 JSON") from None


async def lifecycle_preview(request: Request) -> Response:
    """Preview the policy in the body, or the stored policy when the body is empty."""
    ctx = context(request)
    name = request.path_params["name"]
    text = await _policy_body(request)
    if not text.strip():
        text = await in_pool(ctx.lifecycle.policy, name)
    preview = await in_pool(ctx.lifecycle.preview, name, text)
    return json_response(LifecyclePreview.of(preview))


async def lifecycle_policy(request: Request) -> Response:
    ctx = context(request)
    name = request.path_params["name"]
    if is_read(request):
        text = await in_pool(ctx.lifecycle.policy, name)
        return json_response(LifecyclePolicy(repository_name=name, lifecycle_policy_text=text))
    if request.method == "DELETE":
        await in_pool(ctx.lifecycle.remove_policy, name, caller_of(request))
        return Response(status_code=204)
    text = await _policy_body(request)
    preview = await in_pool(ctx.lifecycle.set_policy, name, text, caller_of(request))
    return json_response(LifecyclePreview.of(preview))


async def lifecycle_apply(request: Request) -> Response:
    ctx = context(request)
    preview = await in_pool(ctx.lifecycle.apply, request.path_params["name"], caller_of(request))
    return json_response(LifecyclePreview.of(preview))


log = logging.getLogger("cargohold.api")


async def list_tag_rules(request: Request) -> Response:
    ctx = context(request)
    rules = await in_pool(ctx.tag_rules.list)
    shown = await visibility(request)
    return json_response(
        TagRuleList(rules=[TagRule.of(rule) for rule in rules if shown.repository(rule.target)])
    )


async def _document(request: Request, invalid: type[RegistryError], what: str) -> object:
    """The body's JSON document, or the error saying why it is not JSON. The handler checks
    the caller first: a body that is no document names no project, so only a system admin
    learns what is wrong with it (docs/security.md). A body over the size limit is refused
    (413, closing the connection) before anyone looks at it."""
    try:
        return await json_body(request, invalid, what)
    except invalid as problem:
        return problem


def _stored_id(request: Request, key: str, unknown: type[RegistryError]) -> int | RegistryError:
    """The numeric id in the path, or the `unknown` error for one that cannot exist, raised
    after the caller is checked (an unknown object names no project)."""
    try:
        return path_id(request, key, unknown)
    except unknown as problem:
        return problem


async def add_tag_rule(request: Request) -> Response:
    ctx = context(request)
    document = await _document(request, TagRuleInvalid, "the rule")
    await require(request, TAG_RULES, _target_project(document))
    if isinstance(document, RegistryError):
        raise document
    rule = await in_pool(ctx.tag_rules.add, document, caller_of(request))
    return json_response(TagRule.of(rule), status_code=201)


async def remove_tag_rule(request: Request) -> Response:
    ctx = context(request)
    rule_id = _stored_id(request, "rule_id", TagRuleUnknown)
    rule = None if isinstance(rule_id, RegistryError) else await in_pool(ctx.tag_rules.get, rule_id)
    await require(request, TAG_RULES, None if rule is None else project_of(rule.target))
    if isinstance(rule_id, RegistryError):
        raise rule_id
    await in_pool(ctx.tag_rules.remove, rule_id, caller_of(request))
    return Response(status_code=204)


async def list_holds(request: Request) -> Response:
    ctx = context(request)
    holds = await in_pool(ctx.holds.list)
    shown = await visibility(request)
    return json_response(
        HoldList(holds=[Hold.of(hold) for hold in holds if shown.repository(hold.target)])
    )


async def add_hold(request: Request) -> Response:
    ctx = context(request)
    document = await _document(request, HoldRequestInvalid, "the hold")
    await require(request, POLICIES, _target_project(document))
    if isinstance(document, RegistryError):
        raise document
    hold = await in_pool(ctx.holds.add, document, caller_of(request))
    return json_response(Hold.of(hold), status_code=201)


async def release_hold(request: Request) -> Response:
    ctx = context(request)
    hold_id = _stored_id(request, "hold_id", HoldUnknown)
    hold = None if isinstance(hold_id, RegistryError) else await in_pool(ctx.holds.get, hold_id)
    await require(request, POLICIES, None if hold is None else project_of(hold.target))
    if isinstance(hold_id, RegistryError):
        raise hold_id
    await in_pool(ctx.holds.release, hold_id, caller_of(request))
    return Response(status_code=204)


Emit = Callable[[msgspec.Struct], None]


def stream_work(work: Callable[[Emit], msgspec.Struct], what: str) -> StreamingResponse:
    """Run `work(emit)` on the pool, streaming its events and then its result as NDJSON.

    The last line is the `done` event `work` returns ({"event": "done", "report": {...}}) or
    {"event": "error", "code", "message"}: the status line went out with the first event, so
    errors travel in-band.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[msgspec.Struct] = asyncio.Queue()

    def emit(event: msgspec.Struct) -> None:
        loop.call_soon_threadsafe(events.put_nowait, event)

    job = asyncio.ensure_future(in_pool(work, emit))

    async def lines() -> AsyncIterator[bytes]:
        while True:
            getter = asyncio.ensure_future(events.get())
            await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield encode(getter.result()) + b"\n"
                continue
            getter.cancel()
            while not events.empty():
                yield encode(events.get_nowait()) + b"\n"
            try:
                final = job.result()
            except RegistryError as exc:
                final = StreamError(code=exc.code, message=exc.message)
            except Exception as exc:
                log.exception("%s failed", what)
                final = StreamError(code="UNKNOWN", message=str(exc))
            yield encode(final) + b"\n"
            return

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def garbage_collect(request: Request) -> Response:
    """Run garbage collection, streaming progress as JSON lines (NDJSON).

    Lines: {"event": "start", "candidates", "candidateBytes", "dryRun"}, then
    {"event": "progress", "blobs", "bytes"} after each batch, and finally
    {"event": "done", "report": {...}} or {"event": "error", "code", "message"}.
    """
    ctx = context(request)
    dry_run = query_flag(request, "dryRun", QueryInvalid)
    untagged = query_flag(request, "untagged", QueryInvalid)
    if ctx.gc.running:
        raise GcBusy()
    caller = caller_of(request)

    def work(emit: Emit) -> msgspec.Struct:
        blobs, total = ctx.gc.count(untagged)
        emit(GcStart(candidates=blobs, candidate_bytes=total, dry_run=dry_run))
        report = ctx.gc.run(
            dry_run,
            lambda done, freed: emit(GcProgress(blobs=done, bytes=freed)),
            untagged=untagged,
            caller=caller,
        )
        return GcDone(report=GcReport.of(report))

    return stream_work(work, "garbage collection")


async def fsck(request: Request) -> Response:
    """Check metadata against stored bytes; with `repair=true`, fix what is found (NDJSON).

    Lines: {"event": "progress", "phase": "rows"|"objects", "checked"} and finally
    {"event": "done", "report": {...}} or {"event": "error", ...}, as for /api/v1/gc.
    """
    ctx = context(request)
    repair = query_flag(request, "repair", QueryInvalid)
    verify_content = query_flag(request, "verifyContent", QueryInvalid)

    caller = caller_of(request)

    def work(emit: Emit) -> msgspec.Struct:
        report = ctx.fsck.run(
            repair,
            ctx.gc.sweep_now,
            verify_content,
            lambda phase, checked: emit(FsckProgress(phase=phase, checked=checked)),  # type: ignore[arg-type]
            caller=caller,
        )
        return FsckDone(report=FsckReport.of(report))

    return stream_work(work, "fsck")


async def project_quota(request: Request) -> Response:
    ctx = context(request)
    project = request.path_params["project"]
    if is_read(request):
        return json_response(Quota.of(await in_pool(ctx.quotas.get, project)))
    if request.method == "DELETE":
        await in_pool(ctx.quotas.remove, project, caller_of(request))
        return Response(status_code=204)
    document = await json_body(request, QuotaInvalid, 'the quota: {"limitBytes": N}')
    return json_response(
        Quota.of(await in_pool(ctx.quotas.set, project, document, caller_of(request)))
    )


async def storage_report(request: Request) -> Response:
    ctx = context(request)
    return json_response(StorageReport.of(await in_pool(ctx.storage_report.report)))


async def list_jobs(request: Request) -> Response:
    """Recent job runs, newest first; `?kind=gc&state=failed&n=50` narrow the list."""
    ctx = context(request)
    n = page_size(request, 50)
    assert n is not None
    kind = request.query_params.get("kind") or None
    state = request.query_params.get("state") or None
    runs = await in_pool(ctx.jobs.recent, n, kind, state)
    return json_response(JobList(jobs=[JobRun.of(run) for run in runs]))


async def submit_job(request: Request) -> Response:
    ctx = context(request)
    document = await json_body(request, JobInvalid, "the job")
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise JobInvalid('the body must be a JSON object like {"kind": "gc", "args": {}}')
    unknown = sorted(set(document) - {"kind", "args"})
    if unknown:
        raise JobInvalid(f"unknown field(s) {', '.join(unknown)}: a job has a kind and args")
    args = document.get("args", {})
    if not isinstance(args, dict):
        raise JobInvalid("args must be a JSON object")
    run = await in_pool(ctx.jobs.submit, document["kind"], args, "api", caller_of(request))
    return json_response(JobRun.of(run), status_code=202)


# Job ids are UUIDs in hex; anything else (a NUL PostgreSQL cannot compare) is unknown.
_JOB_ID = re.compile(r"[0-9A-Za-z_-]{1,100}")


async def job(request: Request) -> Response:
    ctx = context(request)
    job_id = request.path_params["job_id"]
    if _JOB_ID.fullmatch(job_id) is None:
        raise JobUnknown(f"no job {job_id[:100]!r}")
    run = await in_pool(ctx.jobs.get, job_id)
    return json_response(JobRun.of(run))
