"""Times a client sends: an RFC 3339 string (what the admin API's responses show) or UNIX
seconds (what scripts have), read strictly into UNIX seconds; in a query (and so in the CLI's
options) also a date alone, meaning its midnight in UTC (the CLI's times are UTC,
docs/decisions/010).

RFC 3339 is read by msgspec's parser, which wants a full date, a time and a zone
(`2027-01-31T00:00:00Z`, `...+02:00`); a date alone or a time without a zone is refused, as
are non-ASCII digits. UNIX seconds are a JSON number in a body, ASCII digits with an optional
fraction in a query (`float()` alone would take `nan`, `1e9`, `1_000` and Arabic digits). A
space before a query's offset is the `+` that a URL's query string turned into a space.
Either way the time is 0 to 2^63-1 seconds: what the database stores.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated

import msgspec

from cargohold.parsing.integers import INT64_MAX

_SECONDS = re.compile(r"[0-9]{1,20}(\.[0-9]{1,9})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SPACED_OFFSET = re.compile(r"(.+[0-9]) ([0-9]{2}:[0-9]{2})")
_ZONED = Annotated[dt.datetime, msgspec.Meta(tz=True)]
EXAMPLE = "2027-01-31T00:00:00Z"
_JSON_KINDS = {list: "an array", dict: "an object", type(None): "null"}


def _rfc3339(text: str) -> float:
    try:
        return msgspec.convert(text, _ZONED).timestamp()
    except msgspec.ValidationError:
        raise ValueError(
            f"{text[:40]!r} is neither an RFC 3339 time with a zone (such as {EXAMPLE}) nor "
            "UNIX seconds"
        ) from None


def _bounded(seconds: float, shown: object) -> float:
    if not (math.isfinite(seconds) and 0 <= seconds <= INT64_MAX):
        raise ValueError(f"{shown} is not a time from 1970 on")
    return seconds


def time_from_json(value: object) -> float:
    """A time in a JSON body: an RFC 3339 string or a number of UNIX seconds; ValueError
    (with a message) for anything else."""
    if isinstance(value, str):
        return _bounded(_rfc3339(value), repr(value[:40]))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _bounded(float(value), value)
    kind = "true or false" if isinstance(value, bool) else _JSON_KINDS.get(type(value), "that")
    raise ValueError(f"{kind} is not a time: give RFC 3339 (such as {EXAMPLE}) or UNIX seconds")


def time_from_query(text: str) -> float:
    """A time in a query parameter: RFC 3339, a date (its midnight in UTC), or UNIX seconds as
    ASCII digits with an optional fraction; ValueError (with a message) for anything else."""
    if _SECONDS.fullmatch(text):
        return _bounded(float(text), text)
    moment = text
    if _DATE.fullmatch(text):
        moment = f"{text}T00:00:00Z"
    elif spaced := _SPACED_OFFSET.fullmatch(text):
        moment = f"{spaced[1]}+{spaced[2]}"
    try:
        seconds = _rfc3339(moment)
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not a time: give RFC 3339 (such as {EXAMPLE}), a date (UTC) or"
            " UNIX seconds"
        ) from None
    return _bounded(seconds, repr(text[:40]))
