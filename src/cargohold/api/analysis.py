"""Admin API: the analysis of an image in the registry (layer sizes, wasted bytes, what the
final image carries), computed once per manifest and stored (services/image_analysis.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.boundary import in_pool
from cargohold.api.context import context
from cargohold.api.encoding import json_response
from cargohold.api.params import manifest_digest


async def image_analysis(request: Request) -> Response:
    ctx = context(request)
    name, reference = request.path_params["name"], request.path_params["reference"]
    digest = await in_pool(manifest_digest, ctx, name, reference)
    report = await in_pool(ctx.analysis.report, name, digest)
    return json_response(report)
