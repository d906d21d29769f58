"""Rendering errors as the distribution spec's JSON error body."""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
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


# The code of a body that could not be read, by route; other routes read no body.
_UNREADABLE_BODY_CODES = (
    ("/blobs/uploads", "BLOB_UPLOAD_INVALID"),
    ("/manifests/", "MANIFEST_INVALID"),
)


async def client_disconnect_handler(request: Request, exc: Exception) -> Response:
    """A client that hung up, or sent a malformed chunked body (the server reports both as a
    disconnect), mid-body: its fault, not ours. One log line, no traceback, and a 400 that
    the client sees if it is still there."""
    assert isinstance(exc, ClientDisconnect)
    path = request.url.path
    log.info(
        "client disconnected or sent a malformed body during %s %s", request.method, path[:200]
    )
    code = next((c for part, c in _UNREADABLE_BODY_CODES if part in path), "BODY_INVALID")
    error = RegistryError(
        "the request body could not be read: the client disconnected or sent a malformed "
        "chunked body"
    )
    error.code, error.status = code, 400
    return error_response(error, head=request.method == "HEAD")


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    error = RegistryError("internal server error; see the server log")
    return error_response(error, head=request.method == "HEAD")
