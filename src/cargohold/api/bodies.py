"""Reading request bodies within a byte limit that is enforced while the bytes arrive.

A declared `Content-Length` above the limit is refused before a byte is read; a body without one
(chunked) is refused as soon as what arrived passes the limit. The refusal closes the connection,
so the rest of the body is never read. Every refusal is `SIZE_INVALID`, on /v2/ and on the admin
API alike; the status says which way the body failed (413 too large, 408 stalled). A body the
client breaks off is api/errors.py's client_disconnect_handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request

from cargohold.api.context import context
from cargohold.errors import BodyTooLarge, RegistryError
from cargohold.parsing.integers import parse_non_negative

# Bytes gathered before a write to a spooled file is handed to a thread.
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


async def spool_body(
    request: Request, path: Path, limit: int, too_large: TooLarge = body_too_large
) -> int:
    """Write the body to `path`, at most `limit` bytes, never holding it whole; returns its
    size. Writes run in a thread, a batch at a time, so a slow disk does not stall the loop."""
    _refuse_declared(request, limit, too_large)
    size = 0
    batch: list[bytes] = []
    batched = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= SPOOL_BATCH:
                await asyncio.to_thread(out.write, b"".join(batch))
                batch, batched = [], 0
        if batch:
            await asyncio.to_thread(out.write, b"".join(batch))
    return size
