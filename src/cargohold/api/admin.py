"""The admin JSON API under /api/v1/ (described by openapi.py).

Its queries can be long; they run off the event loop.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.api.context import context
from cargohold.api.openapi import OPENAPI
from cargohold.api.v2.pagination import MAX_PAGE, next_link, page_size


async def system_info(request: Request) -> Response:
    ctx = context(request)
    return JSONResponse(await ctx.offload(ctx.inventory.system))


async def repositories(request: Request) -> Response:
    ctx = context(request)
    n = page_size(request, MAX_PAGE)
    assert n is not None
    last = request.query_params.get("last") or None
    rows = await ctx.offload(ctx.inventory.repositories, n + 1, last) if n else []
    headers = {}
    if len(rows) > n:
        rows = rows[:n]
        headers["Link"] = next_link("/api/v1/repositories", n, str(rows[-1]["name"]))
    return JSONResponse({"repositories": rows}, headers=headers)


async def repository_tags(request: Request) -> Response:
    ctx = context(request)
    name = request.path_params["name"]
    return JSONResponse({"name": name, "tags": await ctx.offload(ctx.inventory.tags, name)})


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)
