"""`n` and `last` query parameters and the relative `Link` header."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from cargohold.errors import PaginationNumberInvalid

MAX_PAGE = 1000


def page_size(request: Request, default: int | None) -> int | None:
    raw = request.query_params.get("n")
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise PaginationNumberInvalid(f"n must be a non-negative integer, got {raw[:50]!r}")
    return min(int(raw), MAX_PAGE)


def next_link(path: str, n: int, last: str) -> str:
    return f"<{path}?{urlencode({'n': n, 'last': last})}>; " + 'rel="next"'
