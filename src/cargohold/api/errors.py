"""Rendering errors as the distribution spec's JSON error body."""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cargohold.errors import RegistryError

log = logging.getLogger("cargohold.api")


def error_response(error: RegistryError, head: bool = False) -> Response:
    body = json.dumps(error.body()).encode()
    headers = dict(error.headers)
    if head:
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, status_code=error.status, headers=headers, media_type="application/json")


async def registry_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    return error_response(exc, head=request.method == "HEAD")


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = RegistryError(f"method {request.method} is not supported here")
        error.code, error.status = "UNSUPPORTED", 405
    elif exc.status_code == 404:
        error = RegistryError(f"no such endpoint: {request.url.path[:200]}")
        error.code, error.status = "NOT_FOUND", 404
    else:
        error = RegistryError(str(exc.detail))
        error.code, error.status = "UNKNOWN", exc.status_code
    return error_response(error, head=request.method == "HEAD")


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    error = RegistryError("internal server error; see the server log")
    return error_response(error, head=request.method == "HEAD")
