"""Times in the admin API's own documents: RFC 3339 in UTC with a `Z` (docs/api.md).

The metadata store keeps UNIX seconds; a model holds a timezone-aware `datetime`, which msgspec
writes as `2026-12-04T18:57:56Z`, or with microseconds when the time has a fraction.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

# A time field: `format: date-time` in the schema, and always timezone-aware (UTC).
UtcTime = Annotated[dt.datetime, msgspec.Meta(tz=True, description="RFC 3339, UTC")]


def utc(stamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, dt.UTC)


def utc_or_none(stamp: float | None) -> dt.datetime | None:
    return None if stamp is None else dt.datetime.fromtimestamp(stamp, dt.UTC)
