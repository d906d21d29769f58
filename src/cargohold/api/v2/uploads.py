"""`/v2/<name>/blobs/uploads/`: POST (session, monolithic, mount), PATCH, PUT, GET, DELETE."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.context import context
from cargohold.errors import BlobUploadInvalid, DigestInvalid
from cargohold.oci.digests import check_digest, is_valid_digest
from cargohold.oci.names import check_name
from cargohold.parsing.integers import parse_non_negative
from cargohold.services.uploads import Upload, parse_content_range, range_header


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
        if await ctx.offload(ctx.registry.mount, name, mount, params.get("from")) is not None:
            return _created(name, mount)
    digest = params.get("digest")
    if digest is not None:
        await ctx.uploads.monolithic(name, digest, _body(request), _content_length(request))
        return _created(name, digest)
    upload = await ctx.uploads.start(name)
    return _session_response(name, upload)


async def upload_session(request: Request) -> Response:
    ctx = context(request)
    name = check_name(request.path_params["name"])
    upload = ctx.uploads.get(name, request.path_params["upload_id"])
    method = request.method

    if method == "GET":
        response = _session_response(name, upload, status=204)
        return response
    if method == "DELETE":
        await ctx.uploads.cancel(upload)
        return Response(status_code=204, headers={"Content-Length": "0"})

    content_range = parse_content_range(request.headers.get("content-range"))
    content_length = _content_length(request)
    if method == "PATCH":
        upload = await ctx.uploads.append(
            upload,
            _body(request),
            content_range[0] if content_range else None,
            content_length,
            content_range[1] if content_range else None,
        )
        return _session_response(name, upload)

    # PUT: an optional last chunk, then the digest check.
    digest = request.query_params.get("digest")
    if not digest:
        raise DigestInvalid("the digest query parameter is required to complete an upload")
    # Refuse a malformed digest before the body is appended, so the client can retry the PUT.
    check_digest(digest)
    if content_length or content_range or request.headers.get("transfer-encoding"):
        upload = await ctx.uploads.append(
            upload,
            _body(request),
            content_range[0] if content_range else None,
            content_length,
            content_range[1] if content_range else None,
        )
    await ctx.uploads.finish(upload, digest)
    return _created(name, digest)
