"""Reading request bodies within a byte limit that is enforced while the bytes arrive.

A declared `Content-Length` above the limit is refused before a byte is read; a body without one
(chunked) is refused as soon as what arrived passes the limit. The refusal closes the connection,
so the rest of the body is never read. Every refusal is `SIZE_INVALID`, on /v2/ and on the admin
API alike; the status says which way the body failed (413 too large, 408 stalled). A body the
client breaks off is api/errors.py's client_disconnect_handler.

Large bodies are never held whole: stream_body hands them to a synchronous writer on the
boundary's pool a batch at a time, receiving the next batch while the previous one is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.requests import Request

from cargohold.api.boundary import in_pool, wait_out
from cargohold.api.context import context
from cargohold.errors import BodyTooLarge, RegistryError
from cargohold.parsing.integers import parse_non_negative

# Bytes gathered before a write is handed to the pool: large enough that the hop costs
# nothing, small enough to bound memory per body (two batches: one written, one gathered).
WRITE_BATCH = 256 * 1024
# A spooled file (a vulnerability database import) is written in larger batches.
SPOOL_BATCH = 1024 * 1024
# The answer to a body that is not read to its end ends the connection: say so to the client.
CLOSE = {"Connection": "close"}


# The limit -> the error that refuses a body over it (a route may answer with its own code).
TooLarge = Callable[[int], RegistryError]


def body_too_large(limit: int) -> RegistryError:
    return BodyTooLarge(
        f"the request body may be at most {limit} bytes", detail={"limit": limit}, headers=CLOSE
    )


def _refuse_declared(request: Request, limit: int, too_large: TooLarge) -> None:
    try:
        declared = parse_non_negative(request.headers.get("content-length") or "0")
    except ValueError:
        return  # not a length: the limit is enforced on the bytes that arrive
    if declared > limit:
        raise too_large(limit)


async def read_body(request: Request, limit: int, too_large: TooLarge = body_too_large) -> bytes:
    """The whole body, at most `limit` bytes of it."""
    _refuse_declared(request, limit, too_large)
    received = bytearray()
    async for chunk in request.stream():
        if len(received) + len(chunk) > limit:
            raise too_large(limit)
        received += chunk
    return bytes(received)


async def read_json_body(request: Request) -> bytes:
    """An admin API JSON body: at most `max_json_body_bytes`."""
    return await read_body(request, context(request).settings.max_json_body_bytes)


async def stream_body(
    chunks: AsyncIterator[bytes],
    write: Callable[[bytes], None],
    batch_bytes: int = WRITE_BATCH,
    limit: int | None = None,
    too_large: TooLarge = body_too_large,
) -> int:
    """Hand the body to the synchronous `write` on the pool, in batches of about `batch_bytes`,
    one batch in flight while the next is received; returns the bytes handed over.

    `write` is called once at a time and in order. When this raises (a refused or broken-off
    body, a failed write, the request cancelled), no write is running any more: the caller
    can clean up after them. A write is never cancelled (a thread cannot be stopped): the
    request waits for it shielded.
    """
    pending: asyncio.Future[None] | None = None
    batch: list[bytes] = []
    batched = 0
    size = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if limit is not None and size > limit:
                raise too_large(limit)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= batch_bytes:
                data = b"".join(batch)
                batch, batched = [], 0
                if pending is not None:
                    await asyncio.shield(pending)
                pending = asyncio.ensure_future(in_pool(write, data))
        if pending is not None:
            await asyncio.shield(pending)
            pending = None
        if batch:
            pending = asyncio.ensure_future(in_pool(write, b"".join(batch)))
            await asyncio.shield(pending)
            pending = None
    finally:
        if pending is not None:
            # The write ends before the caller's cleanup runs, however often the request is
            # cancelled meanwhile.
            await wait_out(pending)
    return size


async def spool_body(
    request: Request, path: Path, limit: int, too_large: TooLarge = body_too_large
) -> int:
    """Write the body to `path`, at most `limit` bytes, never holding it whole; returns its
    size. Writes run on the pool (stream_body), so a slow disk does not stall the loop."""
    _refuse_declared(request, limit, too_large)
    out = await in_pool(path.open, "wb")
    try:
        return await stream_body(request.stream(), out.write, SPOOL_BATCH, limit, too_large)
    finally:
        await asyncio.shield(in_pool(out.close))
