"""Rendering errors as the distribution spec's JSON error body."""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from cargohold.errors import (
    BlobUploadInvalid,
    BodyInvalid,
    HttpStatusError,
    ManifestInvalid,
    NotFound,
    RegistryError,
    StoreUnavailable,
    Unknown,
    Unsupported,
    is_store_unavailable,
)
from cargohold.errors.exception_text import first_line

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
    error: RegistryError
    if exc.status_code == 405:
        error = Unsupported(f"method {request.method} is not supported here")
    elif exc.status_code == 404:
        error = NotFound(f"no such endpoint: {request.url.path[:200]}")
    else:
        error = HttpStatusError(str(exc.detail), status=exc.status_code)
    return error_response(error, head=request.method == "HEAD")


# The error for a body that could not be read, by route; other routes read no body.
_UNREADABLE_BODY_ERRORS: tuple[tuple[str, type[RegistryError]], ...] = (
    ("/blobs/uploads", BlobUploadInvalid),
    ("/manifests/", ManifestInvalid),
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
    unreadable = next((e for part, e in _UNREADABLE_BODY_ERRORS if part in path), BodyInvalid)
    error = unreadable(
        "the request body could not be read: the client disconnected or sent a malformed "
        "chunked body"
    )
    return error_response(error, head=request.method == "HEAD")


# Seconds a client is asked to wait when the metadata store cannot be reached.
STORE_RETRY_AFTER_SECONDS = 5


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Every error no other handler took: 503 UNAVAILABLE when the metadata store cannot be
    reached (a database restart or failover is the operator's condition, and clients retry a
    503), else 500 UNKNOWN with the traceback in the log."""
    error: RegistryError
    if is_store_unavailable(exc):
        log.warning(
            "metadata store unavailable during %s %s: %s",
            request.method,
            request.url.path[:200],
            first_line(exc),
        )
        error = StoreUnavailable(headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)})
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        error = Unknown()
    return error_response(error, head=request.method == "HEAD")
