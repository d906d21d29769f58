"""Points in time from query parameters and command-line options: RFC 3339 or UNIX seconds.

`datetime.fromisoformat` alone is lenient (times without a zone, week dates, `20260101`), so
the shape is checked first. A time without a zone is refused rather than guessed; a bare date
means its midnight in UTC (the CLI's times are UTC, docs/decisions/010).
"""

from __future__ import annotations

import datetime as dt
import re

_UNIX = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
# RFC 3339 date-time (`T` or `t` between date and time; an offset, or Z), or a full date.
# A space before the offset is a `+` that a URL's query string turned into a space.
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[Tt](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?P<fraction>\.[0-9]{1,9})?"
    r"(?P<zone>[Zz]|[+\- ][0-9]{2}:[0-9]{2}))?"
)


def parse_time(text: str) -> float:
    """UNIX seconds of `text`: RFC 3339 (`2026-03-01T12:00:00Z`, `...+02:00`), a date
    (`2026-03-01`, midnight UTC) or UNIX seconds (`1772366400`). ValueError says what is
    expected."""
    if _UNIX.fullmatch(text):
        return float(text)
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text[:40]!r} is not a time: give RFC 3339 (2026-03-01T12:00:00Z), a date "
            "(2026-03-01, UTC) or UNIX seconds"
        )
    try:
        if match["time"] is None:
            moment = dt.datetime.fromisoformat(match["date"]).replace(tzinfo=dt.UTC)
        else:
            zone = match["zone"].upper()
            zone = "+00:00" if zone == "Z" else "+" + zone[1:] if zone[0] == " " else zone
            fraction = (match["fraction"] or "")[:7]  # microseconds at most
            moment = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{zone}")
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a valid date or time") from None
    return moment.timestamp()
