"""Times in the admin API's documents: RFC 3339 in UTC (docs/api.md)."""

from __future__ import annotations

import datetime as dt


def seconds(stamp: object) -> float:
    """UNIX seconds of an RFC 3339 UTC time the admin API sent."""
    assert isinstance(stamp, str) and stamp.endswith("Z"), stamp
    return dt.datetime.fromisoformat(stamp).timestamp()
