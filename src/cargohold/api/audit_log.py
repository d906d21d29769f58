"""GET /api/v1/audit: the audit log, newest first, filtered; pages with a cursor, or every
matching entry as JSON lines (docs/security.md#audit-log)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cargohold.api.boundary import in_pool
from cargohold.api.context import AppContext, context
from cargohold.api.encoding import encode, json_response
from cargohold.api.models.audit import AuditEvent, AuditList
from cargohold.api.params import query_text, query_time
from cargohold.errors import PaginationNumberInvalid, QueryInvalid
from cargohold.meta.audit import AuditFilter
from cargohold.parsing.integers import parse_non_negative
from cargohold.services.audit import DEFAULT_PAGE as DEFAULT_AUDIT_PAGE
from cargohold.services.audit import MAX_PAGE as MAX_AUDIT_PAGE

# Entries read per query of a JSON lines export.
AUDIT_EXPORT_BATCH = 500


def _audit_filter(request: Request) -> AuditFilter:
    """Exact matches on actor, action, project, repository and result; a time range."""
    text = {
        name: query_text(request, name, QueryInvalid)
        for name in ("actor", "action", "project", "repository", "result")
    }
    return AuditFilter(
        **text,
        since=query_time(request, "since", QueryInvalid),
        until=query_time(request, "until", QueryInvalid),
    )


def _audit_limit(request: Request, default: int | None) -> int | None:
    """`limit` (or `n`, as the other listings call it): 1 or more; a page holds at most
    MAX_AUDIT_PAGE entries, and a larger limit asks for the largest page."""
    name = "limit" if "limit" in request.query_params else "n"
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        value = parse_non_negative(raw, maximum=10**30)
    except ValueError:
        value = 0
    if value < 1:
        raise PaginationNumberInvalid(
            f"{name} must be a whole number, 1 or more, got {raw[:40]!r}",
            detail={"parameter": name},
        )
    return value


def _next_page_link(request: Request, cursor: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    return f"</api/v1/audit?{urlencode([*query, ('cursor', cursor)])}>; " + 'rel="next"'


async def audit(request: Request) -> Response:
    """The audit log, newest first, filtered; a page and the cursor of the next
    (`format=json`, the default), or every matching entry as JSON lines (`format=jsonl`)."""
    ctx = context(request)
    where = _audit_filter(request)
    cursor = query_text(request, "cursor", QueryInvalid, max_length=64)
    form = request.query_params.get("format") or "json"
    if form == "jsonl":
        return await _audit_lines(ctx, where, cursor, _audit_limit(request, None))
    if form != "json":
        raise QueryInvalid(
            f"format must be json or jsonl, got {form[:40]!r}", detail={"parameter": "format"}
        )
    limit = min(_audit_limit(request, DEFAULT_AUDIT_PAGE) or DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE)
    page = await in_pool(ctx.audit.page, where, cursor, limit)
    headers = {"Link": _next_page_link(request, page.next_cursor)} if page.next_cursor else {}
    document = AuditList(events=[AuditEvent.of(e) for e in page.events], next=page.next_cursor)
    return json_response(document, headers=headers)


async def _audit_lines(
    ctx: AppContext, where: AuditFilter, cursor: str | None, limit: int | None
) -> Response:
    """Every matching entry (up to `limit`), one JSON document per line, read and sent
    AUDIT_EXPORT_BATCH at a time. The first batch is read before the answer starts, so a
    bad filter or cursor is still a plain 400."""
    batch = min(limit or AUDIT_EXPORT_BATCH, AUDIT_EXPORT_BATCH)
    first = await in_pool(ctx.audit.page, where, cursor, batch)

    async def lines() -> AsyncIterator[bytes]:
        page, left = first, limit
        while True:
            events = page.events if left is None else page.events[:left]
            if events:
                yield b"".join(encode(AuditEvent.of(e)) + b"\n" for e in events)
            if left is not None:
                left -= len(events)
            if page.next_cursor is None or left == 0:
                return
            size = batch if left is None else min(batch, left)
            page = await in_pool(ctx.audit.page, where, page.next_cursor, size)

    return StreamingResponse(lines(), media_type="application/x-ndjson")
