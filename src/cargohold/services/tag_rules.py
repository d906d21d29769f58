"""Managing tag rules (immutability, no `latest`) and reading them for enforcement."""

from __future__ import annotations

from typing import Any

from cargohold.errors import TagRuleInvalid, TagRuleUnknown
from cargohold.meta.tag_rules import TagRuleRecords, TagRuleRow
from cargohold.oci.names import is_valid_name, project_of
from cargohold.policy.immutability import RuleInvalid, TagRule, validate_rule
from cargohold.services.caller import Caller


def _rule(row: TagRuleRow) -> TagRule:
    return TagRule(
        row.id,
        row.kind,  # type: ignore[arg-type]
        row.scope,  # type: ignore[arg-type]
        row.target,
        row.pattern,
        row.pattern_kind,  # type: ignore[arg-type]
        row.excludes,
    )


class TagRuleService:
    def __init__(self, records: TagRuleRecords) -> None:
        self.records = records

    def rules_for(self, repository: str) -> list[TagRule]:
        return [
            _rule(row) for row in self.records.for_repository(repository, project_of(repository))
        ]

    def list(self) -> list[TagRule]:
        return [_rule(row) for row in self.records.all()]

    def get(self, rule_id: int) -> TagRule | None:
        return next((rule for rule in self.list() if rule.id == rule_id), None)

    def add(self, document: Any, caller: Caller) -> TagRule:
        if not isinstance(document, dict):
            raise TagRuleInvalid("a tag rule must be a JSON object")
        unknown = set(document) - {"kind", "scope", "target", "pattern", "patternKind", "excludes"}
        if unknown:
            raise TagRuleInvalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        excludes = document.get("excludes", [])
        if not isinstance(excludes, list) or not all(isinstance(e, str) for e in excludes):
            raise TagRuleInvalid("excludes must be a list of strings")
        fields = {k: document.get(k, "") for k in ("kind", "scope", "target", "pattern")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise TagRuleInvalid("kind, scope, target and pattern must be strings")
        rule = TagRule(
            id=0,
            kind=fields["kind"] or "immutable",  # type: ignore[arg-type]
            scope=fields["scope"],  # type: ignore[arg-type]
            target=fields["target"],
            pattern=fields["pattern"],
            pattern_kind=document.get("patternKind", "glob"),
            excludes=tuple(excludes),
        )
        try:
            validate_rule(rule)
        except RuleInvalid as exc:
            raise TagRuleInvalid(str(exc)) from None
        if not is_valid_name(rule.target):
            raise TagRuleInvalid(f"target {rule.target!r} is not a valid repository name")
        row = TagRuleRow(
            0, rule.kind, rule.scope, rule.target, rule.pattern, rule.pattern_kind, rule.excludes
        )
        rule_id = self.records.add(row, caller.as_actor())
        return TagRule(
            rule_id,
            rule.kind,
            rule.scope,
            rule.target,
            rule.pattern,
            rule.pattern_kind,
            rule.excludes,
        )

    def remove(self, rule_id: int, caller: Caller) -> TagRule:
        removed = self.records.remove(rule_id, caller.as_actor())
        if removed is None:
            raise TagRuleUnknown(detail={"id": rule_id})
        return _rule(removed)
