"""Slow and greedy clients: an idle timeout on request bodies, and a cap on the requests with a
body that one client address may have in flight.

Why: granian serves at most `max_client_connections / workers` connections per worker process,
and a connection holds its place for as long as it stays open. Clients that send headers and
then part of a body, and stop, would hold every place until they hung up, and every other
client would wait in the kernel's listen queue. Here a body that stalls for
`body_read_timeout_seconds` is abandoned (408, connection closed), and one address cannot have
more than `max_uploads_per_client` bodies in flight in a process (429 `TOOMANYREQUESTS` with
`Retry-After`, answered before the body is read, connection closed).

An answer given before the body was read (a refusal: 401, 403, 404) must not leave the
connection in doubt. The HTTP server drops a connection whose request body was not read to its
end, after the answer and without saying so, and a client that sends its next request on it
gets no answer at all. So before such an answer starts, a small rest of the body (at most
DRAIN_BYTES, within DRAIN_SECONDS) is read and dropped, and the connection serves the next
request; a larger or slower one is not waited for, and the answer says `Connection: close`.

Waiting for a body never holds a thread or a lock other requests need: it is an await on the
event loop, and the count lives in this process (a per-process cap, see docs/configuration.md).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold.api.bodies import CLOSE
from cargohold.api.errors import error_response
from cargohold.errors import BodyStalled, TooManyRequests
from cargohold.parsing.integers import parse_non_negative

# Seconds a client over its cap is asked to wait: a place frees when one of its bodies ends.
RETRY_AFTER_SECONDS = 2
# The most of an unread body read and dropped before an answer, so the connection stays open:
# JSON documents and manifests fit; a blob's rest is not worth the wait (the answer closes).
DRAIN_BYTES = 64 * 1024
DRAIN_SECONDS = 5.0


def _body_length(scope: Scope) -> int | None:
    """The length the request declares for its body: 0 without one, None when it has one of
    no declared length (chunked, or a length that is no number: the app refuses that)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return parse_non_negative(value.decode("latin-1").strip())
            except ValueError:
                return None
        if key == b"transfer-encoding":
            return None
    return 0


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, timeout_seconds: float, per_client: int) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds
        self.per_client = per_client
        self._in_flight: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _body_length(scope) if scope["type"] == "http" else 0
        if declared == 0:
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
        body = _Body(receive, self.timeout_seconds, declared)
        try:
            await self.app(scope, body.receive, body.answering(send))
        finally:
            left = self._in_flight[address] - 1
            if left:
                self._in_flight[address] = left
            else:
                del self._in_flight[address]


class _Body:
    """One request's body as the app reads it: a deadline on each wait for its next piece, and
    what is left of it settled before the answer starts (read and dropped, or the connection
    closed)."""

    def __init__(self, receive: Receive, timeout_seconds: float, declared: int | None) -> None:
        self._receive = receive
        self._timeout = timeout_seconds
        self._declared = declared
        self._complete = False
        # The app's receives waiting now (a streaming answer listens for the client to go
        # while it streams), and what wakes a drain that leaves the rest to them.
        self._receiving = 0
        self._progress: asyncio.Event | None = None
        # The client went away: every later receive gets this again.
        self._gone: Message | None = None

    async def receive(self) -> Message:
        """The next message. The deadline counts only time spent waiting for the client (the
        app's own work between two pieces is not counted), and ends with the body: after the
        last piece the app may wait for a disconnect as long as it likes."""
        if self._gone is not None:
            return self._gone
        if self._complete:
            return await self._receive()
        self._receiving += 1
        try:
            async with asyncio.timeout(self._timeout):
                message = await self._receive()
        except TimeoutError:
            raise BodyStalled(
                f"no part of the body arrived for {self._timeout:g} seconds; the request was "
                "abandoned (an upload keeps only the chunks received before this request)",
                headers=CLOSE,
            ) from None
        finally:
            self._receiving -= 1
        self._note(message)
        return message

    def _note(self, message: Message) -> None:
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._complete = True
        if message["type"] == "http.disconnect":
            self._gone = message
        if self._progress is not None:
            self._progress.set()

    def answering(self, send: Send) -> Send:
        """`send`, settling the unread rest of the body before the answer's first message."""

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and not self._complete:
                headers = message.get("headers", [])
                if not _closes(headers) and not await self._drained():
                    message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        return answer

    async def _drained(self) -> bool:
        """Whether the rest of the body was read to its end (and dropped), by this or by a
        receive of the app's already waiting (two receives must not wait at once: the one
        that does not get the body's end would wait for the client to go)."""
        if self._declared is not None and self._declared > DRAIN_BYTES:
            return False
        dropped = 0
        try:
            async with asyncio.timeout(min(self._timeout, DRAIN_SECONDS)):
                while not self._complete and dropped <= DRAIN_BYTES:
                    if self._receiving:
                        self._progress = self._progress or asyncio.Event()
                        self._progress.clear()
                        await self._progress.wait()
                        continue
                    message = await self._receive()
                    dropped += len(message.get("body", b""))
                    self._note(message)
        except TimeoutError:
            return False
        return self._complete and self._gone is None and dropped <= DRAIN_BYTES


_CLOSE = (b"connection", b"close")


def _closes(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether an answer already ends its connection (a refused body says so itself)."""
    return any(k.lower() == b"connection" and v.lower() == b"close" for k, v in headers)
