"""`n` and `last` query parameters and the relative `Link` header."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from cargohold.errors import PaginationNumberInvalid
from cargohold.parsing.integers import parse_non_negative

MAX_PAGE = 1000


def page_size(request: Request, default: int | None) -> int | None:
    raw = request.query_params.get("n")
    if raw is None or raw == "":
        return default
    try:
        # Any count is valid; past MAX_PAGE it only asks for the largest page.
        return min(parse_non_negative(raw, maximum=10**30), MAX_PAGE)
    except ValueError:
        raise PaginationNumberInvalid(
            f"n must be a non-negative integer, got {raw[:50]!r}"
        ) from None


def last_param(request: Request) -> str | None:
    """`last`: where the previous page ended. Names and tags never contain NUL, which a
    PostgreSQL parameter cannot carry; cutting at the first NUL selects exactly the same
    names (in byte order, everything after "a" comes after "a\0b" too)."""
    raw = request.query_params.get("last") or ""
    return raw.split("\x00", 1)[0] or None


def next_link(path: str, n: int, last: str) -> str:
    return f"<{path}?{urlencode({'n': n, 'last': last})}>; " + 'rel="next"'
