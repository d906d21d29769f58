"""Failed-login counters per account and per client address, shared by every node.

What a count means (how long to slow down, when to lock) is policy/login_throttle.py's
decision; this module keeps the counts and changes them atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cargohold.meta.database import Database

ACCOUNT = "account"
ADDRESS = "address"


@dataclass(frozen=True)
class FailureState:
    kind: str
    subject: str
    failures: int
    last_failure_at: float
    locked_until: float | None


class LoginFailureRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, kind: str, subject: str) -> FailureState | None:
        row = self.db.one(
            "SELECT failures, last_failure_at, locked_until FROM login_failures"
            " WHERE kind = ? AND subject = ?",
            (kind, subject),
        )
        if row is None:
            return None
        return FailureState(kind, subject, int(row[0]), float(row[1]), row[2])

    def get_both(
        self, account: str | None, address: str | None
    ) -> tuple[FailureState | None, FailureState | None]:
        """The account's and the address's states (None for a subject not asked about) in one
        query: every login reads both."""
        pairs = ((ACCOUNT, account), (ADDRESS, address))
        asked = [(kind, subject) for kind, subject in pairs if subject is not None]
        if not asked:
            return None, None
        where = " OR ".join(["(kind = ? AND subject = ?)"] * len(asked))
        rows = self.db.rows(
            "SELECT kind, subject, failures, last_failure_at, locked_until FROM login_failures"
            f" WHERE {where}",
            [value for pair in asked for value in pair],
        )
        found: dict[tuple[str, str | None], FailureState] = {
            (row[0], row[1]): FailureState(row[0], row[1], int(row[2]), float(row[3]), row[4])
            for row in rows
        }
        return found.get(pairs[0]), found.get(pairs[1])

    def record(
        self,
        kind: str,
        subject: str,
        next_state: Callable[[FailureState | None], FailureState],
    ) -> FailureState:
        """Apply `next_state` to the stored state in one transaction and store its result:
        concurrent failures on several nodes each count."""
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        with self.db.transaction() as tx:
            # On PostgreSQL, make sure a row exists to lock: the first failure of two at once
            # would otherwise both see none.
            tx.execute(
                "INSERT INTO login_failures (kind, subject, failures, last_failure_at)"
                " VALUES (?, ?, 0, 0) ON CONFLICT (kind, subject) DO NOTHING",
                (kind, subject),
            )
            row = tx.one(
                "SELECT failures, last_failure_at, locked_until FROM login_failures"
                f" WHERE kind = ? AND subject = ?{lock}",
                (kind, subject),
            )
            assert row is not None
            current = (
                FailureState(kind, subject, int(row[0]), float(row[1]), row[2])
                if int(row[0]) > 0
                else None
            )
            new = next_state(current)
            tx.execute(
                "UPDATE login_failures SET failures = ?, last_failure_at = ?, locked_until = ?"
                " WHERE kind = ? AND subject = ?",
                (new.failures, new.last_failure_at, new.locked_until, kind, subject),
            )
        return new

    def clear(self, kind: str, subject: str) -> None:
        # Read first: a successful login must not cost a write when there is nothing to clear.
        if self.get(kind, subject) is None:
            return
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM login_failures WHERE kind = ? AND subject = ?", (kind, subject))

    def purge(self, older_than: float) -> int:
        """Drop counters whose last failure is older than this and that lock nothing."""
        with self.db.transaction() as tx:
            return tx.execute(
                "DELETE FROM login_failures WHERE last_failure_at < ?"
                " AND (locked_until IS NULL OR locked_until < ?)",
                (older_than, older_than),
            )
