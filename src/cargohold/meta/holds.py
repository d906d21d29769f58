"""Stored retention holds (see policy/holds.py for what they mean)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction

_COLUMNS = "id, scope, target, digest, reason, ends_at"
_FOR_REPOSITORY = f"SELECT {_COLUMNS} FROM holds WHERE target = ? OR target = ? ORDER BY id"


@dataclass(frozen=True)
class HoldRow:
    """A stored retention hold (see policy/holds.py for what it means)."""

    id: int
    scope: str
    target: str
    digest: str | None
    reason: str
    ends_at: float | None

    def where(self) -> str:
        return f"{self.scope}:{self.target}" + (f"@{self.digest}" if self.digest else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "target": self.target,
            "digest": self.digest,
            "reason": self.reason,
            "endsAt": self.ends_at,
        }

    def audit_fields(self) -> dict[str, str]:
        """The project, or the repository (and image digest), an entry about it names."""
        if self.scope == "project":
            return {"project": self.target}
        return {"repository": self.target, "digest": self.digest or ""}


# Which of the hold rows covers an image of a repository at a time, or None: the caller's
# hold rules (policy/holds.py), applied to rows read inside the delete transaction.
HoldMatcher = Callable[[list[HoldRow], str, str, float], HoldRow | None]


class HoldRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[HoldRow]:
        return [HoldRow(*row) for row in self.db.rows(f"SELECT {_COLUMNS} FROM holds ORDER BY id")]

    def for_repository(self, repository: str, project: str) -> list[HoldRow]:
        """The holds on the repository (or an image of it) and on its project."""
        return [HoldRow(*row) for row in self.db.rows(_FOR_REPOSITORY, (repository, project))]

    @staticmethod
    def for_repository_in(tx: Transaction, repository: str, project: str) -> list[HoldRow]:
        """`for_repository`, read inside a write transaction (a delete that checks holds)."""
        return [HoldRow(*row) for row in tx.rows(_FOR_REPOSITORY, (repository, project))]

    def add(self, hold: HoldRow, actor: Actor) -> int:
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.one(
                "INSERT INTO holds (scope, target, digest, reason, ends_at, created_at,"
                " created_by) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (hold.scope, hold.target, hold.digest, hold.reason, hold.ends_at, now, actor.name),
            )
            assert row is not None
            hold_id = int(row[0])
            self.db.audit(
                tx,
                now,
                actor,
                "hold.add",
                hold.where(),
                {"id": hold_id, **hold.as_dict()},
                **hold.audit_fields(),
            )
        return hold_id

    def remove(self, hold_id: int, actor: Actor) -> HoldRow | None:
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.one(f"SELECT {_COLUMNS} FROM holds WHERE id = ?", (hold_id,))
            if row is None:
                return None
            removed = HoldRow(*row)
            tx.execute("DELETE FROM holds WHERE id = ?", (hold_id,))
            self.db.audit(
                tx,
                now,
                actor,
                "hold.release",
                removed.where(),
                removed.as_dict(),
                **removed.audit_fields(),
            )
        return removed
