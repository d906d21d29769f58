"""`/v2/<name>/blobs/uploads/`: POST (session, monolithic, mount), PATCH, PUT, GET, DELETE.

The bodies are received here and handed, a batch at a time, to the upload service's
synchronous writer on the boundary's pool (api/bodies.stream_body); every call into the
service runs on the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.bodies import stream_body
from cargohold.api.boundary import in_pool, in_pool_held
from cargohold.api.context import AppContext, context
from cargohold.api.params import is_read
from cargohold.api.route_guard import pull_check
from cargohold.errors import BlobUploadInvalid, DigestInvalid, SizeInvalid
from cargohold.oci.digests import check_digest, is_valid_digest
from cargohold.oci.names import check_name
from cargohold.parsing.integers import parse_non_negative
from cargohold.services.uploads import BodyWriter, Upload, parse_content_range, range_header

# Monolithic uploads up to this size are read whole and stored in one step (one pool hop
# instead of a staged upload): configs and small layers, most of a small image's requests.
SMALL_BLOB = 256 * 1024


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        return parse_non_negative(raw)
    except ValueError:
        raise BlobUploadInvalid(f"invalid Content-Length {raw[:50]!r}") from None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""


def _body(request: Request) -> AsyncIterator[bytes]:
    # A body-less request (Content-Length 0, no chunked encoding) reads nothing.
    if request.headers.get("content-length") == "0":
        return _empty()
    return request.stream()


async def _write_body(ctx: AppContext, request: Request, body: BodyWriter) -> None:
    """Stream the request body into `body`; on any failure the service gives up what it wrote
    (shielded: the cleanup runs even when the request is being cancelled)."""
    try:
        await stream_body(_body(request), body.write)
    except BaseException as failure:
        await asyncio.shield(in_pool(ctx.uploads.abandon, body, failure))
        raise


async def _append(
    ctx: AppContext,
    upload: Upload,
    request: Request,
    content_range: tuple[int, int] | None,
    content_length: int | None,
) -> Upload:
    body = await in_pool_held(
        ctx.uploads.begin_append,
        ctx.uploads.abandon,
        upload,
        content_range[0] if content_range else None,
        content_length,
        content_range[1] if content_range else None,
    )
    await _write_body(ctx, request, body)
    return await in_pool(ctx.uploads.end_append, body)


async def _monolithic(
    ctx: AppContext, request: Request, name: str, digest: str, content_length: int | None
) -> None:
    if content_length is not None and content_length <= SMALL_BLOB:
        data = await _read_small(request, content_length)
        await in_pool(ctx.uploads.put_whole, name, digest, data)
        return
    body = await in_pool_held(
        ctx.uploads.begin_monolithic, ctx.uploads.abandon, name, digest, content_length
    )
    await _write_body(ctx, request, body)
    await in_pool(ctx.uploads.end_monolithic, body)


def _session_response(name: str, upload: Upload, status: int = 202) -> Response:
    return Response(
        status_code=status,
        headers={
            "Location": f"/v2/{name}/blobs/uploads/{upload.id}",
            "Range": range_header(upload.offset),
            "Docker-Upload-UUID": upload.id,
            "Content-Length": "0",
        },
    )


def _created(name: str, digest: str) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )


async def start_upload(request: Request) -> Response:
    ctx = context(request)
    name = check_name(request.path_params["name"])
    params = request.query_params
    mount = params.get("mount")
    if mount is not None and is_valid_digest(mount):
        # Only from a repository the caller may pull; otherwise a plain upload, as
        # distribution does.
        mounted = await in_pool(
            ctx.blob_links.mount, name, mount, params.get("from"), pull_check(request)
        )
        if mounted is not None:
            return _created(name, mount)
    digest = params.get("digest")
    if digest is not None:
        await _monolithic(ctx, request, name, digest, _content_length(request))
        return _created(name, digest)
    upload = await in_pool(ctx.uploads.start, name)
    return _session_response(name, upload)


async def _read_small(request: Request, content_length: int) -> bytes:
    data = b"".join([chunk async for chunk in _body(request)])
    if len(data) != content_length:
        raise SizeInvalid(f"received {len(data)} bytes, Content-Length said {content_length}")
    return data


def _small_closing_put(request: Request) -> tuple[str, int, tuple[int, int] | None] | None:
    """A PUT that closes a session with a body of at most SMALL_BLOB bytes and a valid digest:
    (digest, Content-Length, Content-Range). None for anything else, which takes the general
    path (and its errors, in their order)."""
    if request.method != "PUT" or request.headers.get("transfer-encoding"):
        return None
    digest = request.query_params.get("digest")
    try:
        content_length = _content_length(request)
        content_range = parse_content_range(request.headers.get("content-range"))
    except BlobUploadInvalid:
        return None
    if not content_length or content_length > SMALL_BLOB or not digest:
        return None
    if not is_valid_digest(digest):
        return None
    return digest, content_length, content_range


async def upload_session(request: Request) -> Response:
    ctx = context(request)
    name = check_name(request.path_params["name"])
    upload_id = request.path_params["upload_id"]
    small = _small_closing_put(request)
    if small is not None:
        # The last chunk and the digest in one pool call: the session is read, appended to,
        # verified and stored there (the general path takes five).
        digest, content_length, content_range = small
        data = await _read_small(request, content_length)
        start, end = content_range if content_range else (None, None)
        await in_pool(ctx.uploads.finish_with, name, upload_id, digest, data, start, end)
        return _created(name, digest)
    # On the pool: an expired session is discarded (its row and its staged bytes) right here.
    upload = await in_pool(ctx.uploads.get, name, upload_id)
    method = request.method

    if is_read(request):
        response = _session_response(name, upload, status=204)
        return response
    if method == "DELETE":
        await in_pool(ctx.uploads.cancel, upload)
        return Response(status_code=204, headers={"Content-Length": "0"})

    content_range = parse_content_range(request.headers.get("content-range"))
    content_length = _content_length(request)
    if method == "PATCH":
        upload = await _append(ctx, upload, request, content_range, content_length)
        return _session_response(name, upload)

    # PUT: an optional last chunk, then the digest check.
    digest = request.query_params.get("digest")
    if not digest:
        raise DigestInvalid("the digest query parameter is required to complete an upload")
    # Refuse a malformed digest before the body is appended, so the client can retry the PUT.
    check_digest(digest)
    if content_length or content_range or request.headers.get("transfer-encoding"):
        whole = await in_pool_held(
            ctx.uploads.begin_closing,
            ctx.uploads.abandon,
            upload,
            digest,
            content_range[0] if content_range else None,
            content_length,
            content_range[1] if content_range else None,
        )
        if whole is not None:
            # An empty session: the body is the whole blob, written straight to its place.
            await _write_body(ctx, request, whole)
            await in_pool(ctx.uploads.end_monolithic, whole)
            return _created(name, digest)
        upload = await _append(ctx, upload, request, content_range, content_length)
    await in_pool(ctx.uploads.finish, upload, digest)
    return _created(name, digest)
