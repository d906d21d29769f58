"""`GET /v2/<name>/tags/list`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.api.boundary import fast_read
from cargohold.api.context import context
from cargohold.api.v2.pagination import last_param, next_link, page_size


async def tags_list(request: Request) -> Response:
    name = request.path_params["name"]
    n = page_size(request, None)
    last = last_param(request)
    registry = context(request).registry
    headers = {}
    if n is None:
        tags = fast_read(registry.tags, name, None, last)
    elif n == 0:
        fast_read(registry.tags, name, 0, last)  # still NAME_UNKNOWN for an unknown repository
        tags = []
    else:
        tags = fast_read(registry.tags, name, n + 1, last)
        if len(tags) > n:
            tags = tags[:n]
            headers["Link"] = next_link(f"/v2/{name}/tags/list", n, tags[-1])
    return JSONResponse({"name": name, "tags": tags}, headers=headers)
