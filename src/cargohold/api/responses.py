"""A response whose headers arrive already encoded, for the pull path's hottest answers.

Starlette's `Response` lower-cases, encodes and scans a dict of headers on every request
(about a third of a manifest GET's handler time); a manifest GET or blob HEAD knows its
few headers exactly and builds the ASGI list itself.
"""

from __future__ import annotations

from starlette.responses import Response


class RawResponse(Response):
    def __init__(
        self, body: bytes, raw_headers: list[tuple[bytes, bytes]], status_code: int = 200
    ) -> None:
        # Everything Response.__call__ reads; the headers must include Content-Length.
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = raw_headers
