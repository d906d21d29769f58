"""`GET /v2/_catalog`: the repositories the caller may pull."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.api.boundary import in_pool
from cargohold.api.context import context
from cargohold.api.route_guard import visibility
from cargohold.api.v2.pagination import MAX_PAGE, last_param, next_link, page_size
from cargohold.services.access import visible_page


async def catalog(request: Request) -> Response:
    n = page_size(request, MAX_PAGE)
    assert n is not None
    last = last_param(request)
    headers = {}
    if n == 0:
        names: list[str] = []
    else:
        catalog = context(request).registry.catalog
        shown = await visibility(request, catalog=True)
        if shown.everything:
            names = await in_pool(catalog, n + 1, last)
        else:
            # Only the repositories the caller may pull.
            names = await in_pool(visible_page, catalog, str, shown.repository, n + 1, last)
        if len(names) > n:
            names = names[:n]
            headers["Link"] = next_link("/v2/_catalog", n, names[-1])
    return JSONResponse({"repositories": names}, headers=headers)
