"""Slow and greedy clients: an idle timeout on request bodies, and a cap on the requests with a
body that one client address may have in flight.

Why: granian serves at most `max_client_connections / workers` connections per worker process,
and a connection holds its place for as long as it stays open. Clients that send headers and
then part of a body, and stop, would hold every place until they hung up, and every other
client would wait in the kernel's listen queue. Here a body that stalls for
`body_read_timeout_seconds` is abandoned (408, connection closed), and one address cannot have
more than `max_uploads_per_client` bodies in flight in a process (429 `TOOMANYREQUESTS` with
`Retry-After`, answered before the body is read, connection closed).

Waiting for a body never holds a thread or a lock other requests need: it is an await on the
event loop, and the count lives in this process (a per-process cap, see docs/configuration.md).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold.api.bodies import CLOSE
from cargohold.api.errors import error_response
from cargohold.errors import BodyStalled, TooManyRequests

# Seconds a client over its cap is asked to wait: a place frees when one of its bodies ends.
RETRY_AFTER_SECONDS = 2


def _has_body(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return value.strip() != b"0"
        if key == b"transfer-encoding":
            return True
    return False


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, timeout_seconds: float, per_client: int) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds
        self.per_client = per_client
        self._in_flight: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("", 0))[0]
        current = self._in_flight.get(address, 0)
        if self.per_client and current >= self.per_client:
            error = TooManyRequests(
                f"{address} already has {current} requests with a body in flight here; "
                f"retry after {RETRY_AFTER_SECONDS} seconds",
                detail={"limit": self.per_client},
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), **CLOSE},
            )
            await error_response(error)(scope, receive, send)
            return
        self._in_flight[address] = current + 1
        try:
            await self.app(scope, self._guarded(receive), send)
        finally:
            left = self._in_flight[address] - 1
            if left:
                self._in_flight[address] = left
            else:
                del self._in_flight[address]

    def _guarded(self, receive: Receive) -> Receive:
        """`receive`, with a deadline on each wait for the next piece of the body.

        The deadline counts only time spent waiting for the client (the app's own work between
        two pieces is not counted), and ends with the body: after the last piece the app may
        wait on `receive` for a disconnect as long as it likes.
        """
        timeout = self.timeout_seconds
        complete = False

        async def guarded() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                raise BodyStalled(
                    f"no part of the body arrived for {timeout:g} seconds; the request was "
                    "abandoned (an upload keeps only the chunks received before this request)",
                    headers=CLOSE,
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        return guarded
