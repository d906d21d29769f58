"""`/v2/<name>/blobs/<digest>`: HEAD, GET (with Range) and DELETE."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from cargohold.api.boundary import fast_read, in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import context
from cargohold.api.responses import RawResponse
from cargohold.errors import BlobUnknown, RangeNotSatisfiable
from cargohold.storage.base import LocalFiles, RedirectURLs

# ASCII digits, at most 19 (2^63-1 has 19): `\d` alone would take any Unicode digit.
_RANGE_RE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})")


def _check_range(value: str, size: int) -> tuple[int, int] | None:
    """The single byte range [start, end) asked for; 416 when it cannot be served."""
    match = _RANGE_RE.fullmatch(value.strip())
    refuse = RangeNotSatisfiable(
        f"cannot serve range {value[:100]!r} of a {size}-byte blob",
        headers={"Content-Range": f"bytes */{size}"},
    )
    if match is None or match.group(1) == match.group(2) == "":
        raise refuse
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0 or size == 0:
            raise refuse
        return max(size - length, 0), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if start >= size or end <= start:
        raise refuse
    return start, end


def _headers(digest: str, size: int) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
        "Content-Length": str(size),
    }


async def blob(request: Request) -> Response:
    ctx = context(request)
    name = request.path_params["name"]
    digest = request.path_params["digest"]
    if request.method == "DELETE":
        await in_pool(ctx.blob_links.delete_blob, name, digest, caller_of(request))
        return Response(status_code=202, headers={"Content-Length": "0"})

    # One indexed lookup: a fast read. GET then stats the local file (one syscall, with the
    # size already known) and the server sends it.
    size = fast_read(ctx.blob_links.blob_size, name, digest)
    # RFC 9110 section 14.2: Range is defined for GET only; HEAD ignores it.
    range_value = request.headers.get("range") if request.method != "HEAD" else None
    byte_range = _check_range(range_value, size) if range_value else None
    if request.method == "HEAD":
        encoded = digest.encode("latin-1")
        return RawResponse(
            b"",
            [
                (b"docker-content-digest", encoded),
                (b"etag", b'"%s"' % encoded),
                (b"accept-ranges", b"bytes"),
                (b"cache-control", b"max-age=31536000"),
                (b"content-length", b"%d" % size),
                (b"content-type", b"application/octet-stream"),
            ],
        )

    headers = _headers(digest, size)
    blobs = ctx.registry.blobs
    if isinstance(blobs, LocalFiles):
        # The server sends the file itself (ASGI pathsend): no bytes through Python.
        path = blobs.path_of(digest)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            raise BlobUnknown(
                "blob metadata exists but its bytes are missing", detail={"digest": digest}
            ) from None
        del headers["Content-Length"]
        return FileResponse(
            path, headers=headers, media_type="application/octet-stream", stat_result=stat
        )
    if isinstance(blobs, RedirectURLs) and (url := blobs.redirect_url(digest)) is not None:
        # The client fetches the bytes from the object store (its Range header goes along).
        return Response(
            status_code=307,
            headers={"Location": url, "Docker-Content-Digest": digest, "Content-Length": "0"},
        )
    # Drivers without local files stream through Python; each read of the store may block,
    # so it runs on the pool, the first before the answer starts (a missing object is a 404).
    start, end = byte_range or (0, size)
    chunks = blobs.get(digest, start, end)
    try:
        first = await in_pool(next, chunks, None)
    except FileNotFoundError:
        raise BlobUnknown(
            "blob metadata exists but its bytes are missing", detail={"digest": digest}
        ) from None
    status = 206 if byte_range else 200
    headers["Content-Length"] = str(end - start)
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        _iterate(first, chunks),
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )


async def _iterate(first: bytes | None, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    try:
        chunk = first
        while chunk is not None:
            yield chunk
            chunk = await in_pool(next, chunks, None)
    finally:
        # A client that went away leaves the store's answer half read: let it go now.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
