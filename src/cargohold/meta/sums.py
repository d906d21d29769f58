"""Sums of declared sizes that cannot overflow in SQL.

SQLite's SUM raises "integer overflow" once a total passes 2^63-1. Sizes the registry
measured (blobs it wrote, manifests of at most 4 MiB) cannot add up to that, but the sizes
manifests declare for content the registry does not hold (foreign layers) are anything up
to 2^63-1, and two of them would make every report built on them fail. Summing the high and
the low 32 bits of each size separately keeps both partial sums far from the bound (it would
take 2^31 rows), and Python joins them exactly. PostgreSQL sums BIGINTs as NUMERIC and would
not overflow, but both backends run the same SQL.
"""

from __future__ import annotations

from typing import Any

SPLIT = 2**32


def split_sum_sql(column: str) -> str:
    """Two SELECT expressions: the high and low parts of SUM(column), 0 over no rows."""
    # The low part without `%`, which psycopg would take for a placeholder.
    high = f"{column} / {SPLIT}"
    return f"COALESCE(SUM({high}), 0), COALESCE(SUM({column} - ({high}) * {SPLIT}), 0)"


def joined(high: Any, low: Any) -> int:
    """The exact total from split_sum_sql's two parts (NUMERIC on PostgreSQL)."""
    return int(high) * SPLIT + int(low)
