"""Structured access log, request ids and request metrics, as a plain ASGI middleware.

A request only queues its line's fields; `accesslog_writer` formats and writes them in
batches on a thread of its own (see there), and writes what is left on the lifespan's
shutdown, before the worker exits. With metrics on, the same end of the request is counted
in this process's RequestStats (metrics/requests.py: a few additions in plain dicts; a thread
publishes them), and request bodies' bytes are counted as they are received: one place
measures each request once, for the log and the metrics alike.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold.accesslog_writer import AccessLogWriter, access_writer

if TYPE_CHECKING:
    from cargohold.metrics.requests import RequestStats

log = logging.getLogger("cargohold.access")
_API_VERSION = ((b"docker-distribution-api-version", b"registry/2.0"),)
_NO_CLIENT = ("", 0)
# The methods whose request bodies are counted (the registry's GETs, HEADs and DELETEs have
# none).
_BODY_METHODS = frozenset({"PUT", "POST", "PATCH"})


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for key, value in headers:
        if key == b"content-length":
            return int(value)
    return 0


def new_request_id() -> str:
    """32 hex digits, like uuid4().hex: random (per-process generator, reseeded after a
    fork), unique in practice, not a secret; no system call per request."""
    return f"{random.getrandbits(128):032x}"


class AccessLogMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        enabled: bool = True,
        writer: AccessLogWriter | None = None,
        stats: RequestStats | None = None,
    ) -> None:
        self.app = app
        self.enabled = enabled
        self._writer = writer
        # This process's request metrics (None: metrics off).
        self.stats = stats

    @property
    def writer(self) -> AccessLogWriter:
        # Looked up late: the worker configures logging (and the writer) before serving.
        return self._writer or access_writer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._flush_on_shutdown(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value.decode("latin-1")[:64]
                break
        request_id = request_id or new_request_id()
        extra_headers = _API_VERSION if scope["path"].startswith("/v2") else ()
        started = time.perf_counter()
        status = 0
        sent = 0
        response_headers: list[tuple[bytes, bytes]] = []

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent, response_headers
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = response_headers = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode("latin-1")),
                    *extra_headers,
                ]
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.pathsend":
                # The server sends the file itself; count what the headers promised.
                sent += _content_length(response_headers)
            await send(message)

        stats = self.stats
        received = 0
        if stats is not None:
            stats.in_flight += 1
            if scope["method"] in _BODY_METHODS:
                inner_receive = receive

                async def counting_receive() -> Message:
                    nonlocal received
                    message = await inner_receive()
                    received += len(message.get("body", b""))
                    return message

                receive = counting_receive
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            if stats is not None:
                stats.in_flight -= 1
                stats.observe(scope, status, elapsed, received, sent)
            if self.enabled and log.isEnabledFor(logging.INFO):
                # Raw values only (an AccessEntry's fields, as a plain tuple): the writer's
                # thread does the arithmetic and the formatting.
                self.writer.put(
                    (
                        time.time(),
                        scope["method"],
                        scope["path"],
                        status,
                        sent,
                        elapsed,
                        request_id,
                        (scope.get("client") or _NO_CLIENT)[0],
                    )
                )

    def _flush_on_shutdown(self, send: Send) -> Send:
        async def send_wrapper(message: Message) -> None:
            # The server has stopped serving: write the queued lines before the worker exits.
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.writer.close()
            await send(message)

        return send_wrapper
