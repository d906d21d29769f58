"""A full disk at the HTTP edge: refuse pushes early, make room for deletes, say it clearly.

See storage/space.py for the reserve this drives, and decision 007 for why.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold.api.bodies import CLOSE
from cargohold.api.boundary import fast_read, in_pool
from cargohold.api.context import context
from cargohold.api.errors import error_response
from cargohold.errors import DiskFull, is_disk_full
from cargohold.storage.space import SpaceReserve

log = logging.getLogger("cargohold.disk")

_PUSH_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _frees_space(method: str, path: str) -> bool:
    """Deletes on /v2/ and garbage collection: what an operator runs to free a full disk."""
    return (method == "DELETE" and path.startswith("/v2/")) or (
        method == "POST" and path == "/api/v1/gc"
    )


def disk_full_error(space: SpaceReserve, method: str) -> DiskFull:
    free, _ = space.free_bytes()
    return DiskFull(
        f"the registry's disk is full ({free} bytes free in its data directory); pushes are "
        "refused until an administrator deletes images and runs garbage collection",
        detail={"freeBytes": free},
        # The rest of a push's body is never read: the connection cannot carry another request.
        headers=CLOSE if method in _PUSH_METHODS else None,
    )


def report_disk_full(space: SpaceReserve, request: Request, exc: BaseException) -> DiskFull:
    """A write failed for lack of space: release the reserve, log one line, answer 507."""
    space.release()
    error = disk_full_error(space, request.method)
    log.error(
        "disk full: %s %s failed (%s); data directory %s has %d bytes free; pushes are refused "
        "until deletes and garbage collection free space",
        request.method,
        request.url.path[:200],
        str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
        space.data_dir,
        error.detail["freeBytes"],
    )
    return error


async def disk_full_handler(request: Request, exc: Exception) -> Response:
    """507 DISK_FULL for an error that says the disk is full; any other error is re-raised
    to the handler of unexpected errors (500)."""
    if not is_disk_full(exc):
        raise exc
    space = context(request).space
    error = await in_pool(report_disk_full, space, request, exc)
    return error_response(error, head=request.method == "HEAD")


class DiskSpaceGuard:
    """Pushes are refused with 507 while the reserve is released; deletes and garbage
    collection first make room (release the reserve on a nearly full disk), and afterwards
    the reserve is taken again if they freed enough."""

    def __init__(self, app: ASGIApp, space: SpaceReserve) -> None:
        self.app = app
        self.space = space

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method in _PUSH_METHODS and path.startswith("/v2/"):
            # One stat while the reserve is held; only a missing one costs a pool hop.
            if not fast_read(self.space.held) and not await in_pool(self.space.writable):
                response = error_response(disk_full_error(self.space, method))
                await response(scope, receive, send)
                return
        elif _frees_space(method, path):
            await in_pool(self.space.make_room)

            async def restore_then_send(message: Message) -> None:
                # Before the response ends: a client that asks right after a collection
                # finds the reserve taken again if the collection freed enough.
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    await in_pool(self.space.restore)
                await send(message)

            try:
                await self.app(scope, receive, restore_then_send)
            finally:
                await in_pool(self.space.restore)
            return
        await self.app(scope, receive, send)
