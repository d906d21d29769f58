"""The admin JSON API under /api/v1/ (described by openapi.py)."""

from __future__ import annotations

import platform

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold import __version__
from cargohold.api.context import context
from cargohold.api.openapi import OPENAPI
from cargohold.api.v2.pagination import MAX_PAGE, next_link, page_size
from cargohold.errors import NameUnknown
from cargohold.oci.names import check_name


async def system_info(request: Request) -> Response:
    ctx = context(request)
    return JSONResponse(
        {
            "version": __version__,
            "python": platform.python_version(),
            "storage": {"driver": ctx.registry.blobs.name},
            "metadata": {"dialect": ctx.registry.meta.dialect},
            "counts": ctx.registry.meta.system_counts(),
        }
    )


async def repositories(request: Request) -> Response:
    n = page_size(request, MAX_PAGE)
    assert n is not None
    last = request.query_params.get("last") or None
    rows = context(request).registry.meta.repository_summaries(n + 1, last) if n else []
    headers = {}
    if len(rows) > n:
        rows = rows[:n]
        headers["Link"] = next_link("/api/v1/repositories", n, str(rows[-1]["name"]))
    return JSONResponse({"repositories": rows}, headers=headers)


async def repository_tags(request: Request) -> Response:
    name = check_name(request.path_params["name"])
    details = context(request).registry.meta.tag_details(name)
    if details is None:
        raise NameUnknown(detail={"name": name})
    return JSONResponse({"name": name, "tags": details})


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)
