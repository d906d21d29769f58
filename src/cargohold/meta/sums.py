"""Sums of byte sizes that cannot overflow in SQL.

SQLite's SUM raises "integer overflow" once a total passes 2^63-1, and a few declared sizes
near that bound (foreign layers are taken as declared) would make every report fail.
Summing the high and the low 32 bits of each size separately keeps both partial sums far
from the bound (it would take 2^31 rows), and Python joins them exactly. PostgreSQL sums
BIGINTs as NUMERIC and would not overflow, but both backends run the same SQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

SPLIT = 2**32


def split_sum_sql(column: str) -> str:
    """Two SELECT expressions: the high and low parts of SUM(column), 0 over no rows."""
    # The low part without `%`, which psycopg would take for a placeholder.
    high = f"{column} / {SPLIT}"
    return f"COALESCE(SUM({high}), 0), COALESCE(SUM({column} - ({high}) * {SPLIT}), 0)"


def split_sum(column: sa.ColumnElement[Any]) -> tuple[sa.ColumnElement[Any], ...]:
    """split_sum_sql for SQLAlchemy expressions."""
    return (
        sa.func.coalesce(sa.func.sum(column // SPLIT), 0),
        sa.func.coalesce(sa.func.sum(column - (column // SPLIT) * SPLIT), 0),
    )


def joined(high: Any, low: Any) -> int:
    """The exact total from split_sum's two parts (NUMERIC on PostgreSQL)."""
    return int(high) * SPLIT + int(low)
