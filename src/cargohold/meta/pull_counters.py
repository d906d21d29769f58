"""Pull counters of the rate limits, one row per caller, shared by every process and node.

How a window is counted (when it starts and ends, whether a pull fits) is
policy/pull_limits.py's decision; this module keeps the windows and changes them atomically:
on SQLite behind the writer lock (one writer at a time across processes), on PostgreSQL with
the row locked for the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cargohold.meta.database import Database


@dataclass(frozen=True)
class PullWindow:
    """A caller's current window: when its first pull was counted, and how many were."""

    started_at: float
    pulls: int


class PullCounterRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, subject: str) -> PullWindow | None:
        row = self.db.one(
            "SELECT started_at, pulls FROM pull_counters WHERE subject = ?", (subject,)
        )
        return PullWindow(float(row[0]), int(row[1])) if row is not None else None

    def update(
        self, subject: str, decide: Callable[[PullWindow | None], PullWindow | None]
    ) -> None:
        """Apply `decide` to the stored window in one transaction and store what it returns;
        None stores nothing (a refused pull writes no row). Concurrent pulls on several
        processes and nodes each see the window the one before them left."""
        postgres = self.db.dialect == "postgresql"
        with self.db.transaction() as tx:
            if postgres:
                # A row to lock, so that two first pulls at once cannot both see none. SQLite
                # needs none: its writers hold the writer lock, one at a time.
                tx.execute(
                    "INSERT INTO pull_counters (subject, started_at, pulls) VALUES (?, 0, 0)"
                    " ON CONFLICT (subject) DO NOTHING",
                    (subject,),
                )
            lock = " FOR UPDATE" if postgres else ""
            row = tx.one(
                f"SELECT started_at, pulls FROM pull_counters WHERE subject = ?{lock}", (subject,)
            )
            current = PullWindow(float(row[0]), int(row[1])) if row and row[1] > 0 else None
            new = decide(current)
            if new is None:
                return
            tx.execute(
                "INSERT INTO pull_counters (subject, started_at, pulls) VALUES (?, ?, ?)"
                " ON CONFLICT (subject) DO UPDATE"
                " SET started_at = excluded.started_at, pulls = excluded.pulls",
                (subject, new.started_at, new.pulls),
            )

    def purge(self, started_before: float) -> int:
        """Drop the windows that started before this time (they have ended)."""
        with self.db.transaction() as tx:
            return tx.execute("DELETE FROM pull_counters WHERE started_at < ?", (started_before,))
