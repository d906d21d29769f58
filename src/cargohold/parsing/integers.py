"""Decimal integers from headers, query parameters and path segments.

`str.isdigit()` is not a test for "int() will accept this": it is true for superscripts
and other Unicode digits (`"²".isdigit()`), and `int()` also takes `"٣"`, `"+1"`, `" 1"`
and `"1_000"`. Request input is ASCII digits only, bounded by what the database can store.
"""

from __future__ import annotations

import re

# The largest value of a signed 64-bit column (BIGINT): sizes, offsets, ids, limits.
INT64_MAX = 2**63 - 1

_DIGITS = re.compile(r"[0-9]+")


def parse_non_negative(text: str, maximum: int = INT64_MAX) -> int:
    """`text` as an integer in 0..maximum; ValueError (with a message) for anything else."""
    # Length first: no need to convert a million digits to learn they are too many.
    if len(text) > len(str(maximum)) + 20 or _DIGITS.fullmatch(text) is None:
        raise ValueError(f"{text[:40]!r} is not a non-negative decimal integer")
    value = int(text)
    if value > maximum:
        raise ValueError(f"{text[:40]} is larger than {maximum}")
    return value
