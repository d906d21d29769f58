"""Lifecycle policies stored per repository (the policy text; policy/ parses it)."""

from __future__ import annotations

import time

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.repositories import find_repository_id


class LifecyclePolicyRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, repository: str) -> str | None:
        row = self.db.one(
            "SELECT p.policy FROM lifecycle_policies p"
            " JOIN repositories r ON r.id = p.repository_id WHERE r.name = ?",
            (repository,),
        )
        return row[0] if row else None

    def repositories(self) -> list[str]:
        """The repositories that have a policy, by name."""
        return self.db.column(
            "SELECT r.name FROM lifecycle_policies p"
            " JOIN repositories r ON r.id = p.repository_id ORDER BY r.name"
        )

    def set(self, repository: str, policy: str | None, actor: Actor) -> bool:
        """Store (or with None, remove) the policy; False if the repository is unknown."""
        now = time.time()
        with self.db.transaction() as tx:
            repository_id = find_repository_id(tx, repository)
            if repository_id is None:
                return False
            if policy is None:
                tx.execute(
                    "DELETE FROM lifecycle_policies WHERE repository_id = ?", (repository_id,)
                )
                self.db.audit(
                    tx, now, actor, "lifecycle.remove", repository, {}, repository=repository
                )
                return True
            tx.execute(
                "INSERT INTO lifecycle_policies (repository_id, policy, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (repository_id) DO UPDATE"
                " SET policy = excluded.policy, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                (repository_id, policy, now, actor.name),
            )
            self.db.audit(
                tx,
                now,
                actor,
                "lifecycle.set",
                repository,
                {"policy": policy},
                repository=repository,
            )
        return True
