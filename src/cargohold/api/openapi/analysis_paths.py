"""OpenAPI paths for image analysis (api/analysis.py)."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import REPOSITORY_NAME, error_response, model_response

PATHS: dict[str, Any] = {
    "/api/v1/repositories/{name}/manifests/{reference}/analysis": {
        "parameters": [
            REPOSITORY_NAME,
            {
                "name": "reference",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "a tag or a digest",
            },
        ],
        "get": {
            "operationId": "getImageAnalysis",
            "summary": "The image's analysis: layer sizes and instructions, wasted bytes, build "
            "tools, caches, headers and docs in it, its user, largest files, efficiency (an "
            "index: every platform). Computed the first time it is asked for, then stored",
            "responses": {
                "200": model_response("The analysis", "AnalysisReport"),
                "404": error_response("NAME_UNKNOWN or MANIFEST_UNKNOWN"),
                "409": error_response(
                    "ANALYSIS_FAILED: not an image, or a layer that cannot be read; "
                    "detail.reason says why"
                ),
            },
        },
    },
}
