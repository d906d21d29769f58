"""`GET /v2/<name>/referrers/<digest>`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.api.boundary import in_pool
from cargohold.api.context import context
from cargohold.oci import mediatypes as mt


async def referrers(request: Request) -> Response:
    artifact_type = request.query_params.get("artifactType") or None
    index = await in_pool(
        context(request).registry.referrers,
        request.path_params["name"],
        request.path_params["digest"],
        artifact_type,
    )
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return JSONResponse(index, headers=headers, media_type=mt.OCI_INDEX)
