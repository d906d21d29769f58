"""Stored tag rules (see policy/immutability.py for what they mean)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database

_COLUMNS = "id, kind, scope, target, pattern, pattern_kind, excludes"


@dataclass(frozen=True)
class TagRuleRow:
    """A stored tag rule (see policy/immutability.py for what it means)."""

    id: int
    kind: str
    scope: str
    target: str
    pattern: str
    pattern_kind: str
    excludes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scope": self.scope,
            "target": self.target,
            "pattern": self.pattern,
            "patternKind": self.pattern_kind,
            "excludes": list(self.excludes),
        }

    def audit_fields(self) -> dict[str, str]:
        """The project or repository an entry about the rule names."""
        return {"project": self.target} if self.scope == "project" else {"repository": self.target}


def _rule(row: tuple[Any, ...]) -> TagRuleRow:
    rule_id, kind, scope, target, pattern, pattern_kind, excludes = row
    return TagRuleRow(
        int(rule_id), kind, scope, target, pattern, pattern_kind, tuple(json.loads(excludes))
    )


class TagRuleRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[TagRuleRow]:
        return [_rule(row) for row in self.db.rows(f"SELECT {_COLUMNS} FROM tag_rules ORDER BY id")]

    def for_repository(self, repository: str, project: str) -> list[TagRuleRow]:
        """The rules of the repository and of its project."""
        rows = self.db.rows(
            f"SELECT {_COLUMNS} FROM tag_rules"
            " WHERE (scope = 'project' AND target = ?) OR (scope = 'repository' AND target = ?)"
            " ORDER BY id",
            (project, repository),
        )
        return [_rule(row) for row in rows]

    def add(self, rule: TagRuleRow, actor: Actor) -> int:
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.one(
                "INSERT INTO tag_rules (kind, scope, target, pattern, pattern_kind, excludes,"
                " created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    rule.kind,
                    rule.scope,
                    rule.target,
                    rule.pattern,
                    rule.pattern_kind,
                    json.dumps(list(rule.excludes)),
                    now,
                    actor.name,
                ),
            )
            assert row is not None
            rule_id = int(row[0])
            self.db.audit(
                tx,
                now,
                actor,
                "tag-rule.add",
                f"{rule.scope}:{rule.target}",
                {"id": rule_id, **rule.as_dict()},
                **rule.audit_fields(),
            )
        return rule_id

    def remove(self, rule_id: int, actor: Actor) -> TagRuleRow | None:
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.one(f"SELECT {_COLUMNS} FROM tag_rules WHERE id = ?", (rule_id,))
            if row is None:
                return None
            removed = _rule(row)
            tx.execute("DELETE FROM tag_rules WHERE id = ?", (rule_id,))
            self.db.audit(
                tx,
                now,
                actor,
                "tag-rule.remove",
                f"{removed.scope}:{removed.target}",
                removed.as_dict(),
                **removed.audit_fields(),
            )
        return removed
