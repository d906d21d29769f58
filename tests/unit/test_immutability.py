"""Tag rules as pure decisions: globs, regexes, exclusions, scopes, `latest`."""

from __future__ import annotations

import pytest

from cargohold.policy.immutability import (
    RuleInvalid,
    TagRule,
    check_tag_push,
    check_tags_delete,
    validate_rule,
)

V_ON_TEAM = TagRule(1, "immutable", "project", "team", "v*", "glob", ("v*-rc*",))
SHA_REGEX = TagRule(2, "immutable", "repository", "team/api", r"sha-[0-9a-f]{7,40}", "regex")
NO_LATEST = TagRule(3, "deny-latest", "project", "prod")
RULES = [V_ON_TEAM, SHA_REGEX, NO_LATEST]


@pytest.mark.parametrize(
    ("repository", "tag", "protected"),
    [
        ("team/app", "v1.2.3", True),
        ("team/app/nested", "v2", True),
        ("team", "v1", True),  # a one-component name is its own project
        ("team/app", "v1.2.3-rc1", False),  # excluded
        ("team/app", "dev", False),
        ("teams/app", "v1", False),  # another project
        ("team/api", "sha-abc1234", True),
        ("team/api", "sha-xyz", False),  # regex must match the whole tag
        ("team/app", "sha-abc1234", False),  # the regex rule is for team/api only
    ],
)
def test_which_tags_are_protected(repository: str, tag: str, protected: bool) -> None:
    assert any(rule.protects(repository, tag) for rule in RULES) is protected


def test_push_over_an_immutable_tag_is_refused_naming_the_rule() -> None:
    denial = check_tag_push(RULES, "team/app", "v1", "sha256:old", "sha256:new")
    assert denial is not None
    assert "rule 1" in denial and "'v*'" in denial and "sha256:old" in denial
    # Same digest again, a new tag, or a mutable tag: allowed.
    assert check_tag_push(RULES, "team/app", "v1", "sha256:old", "sha256:old") is None
    assert check_tag_push(RULES, "team/app", "v2", None, "sha256:new") is None
    assert check_tag_push(RULES, "team/app", "dev", "sha256:old", "sha256:new") is None


def test_latest_is_refused_where_a_rule_says_so() -> None:
    denial = check_tag_push(RULES, "prod/web", "latest", None, "sha256:a")
    assert denial is not None and "'latest' is not allowed" in denial
    assert check_tag_push(RULES, "team/app", "latest", None, "sha256:a") is None


def test_deleting_immutable_tags_is_refused() -> None:
    assert check_tags_delete(RULES, "team/app", ["dev", "v1"]) is not None
    assert check_tags_delete(RULES, "team/app", ["dev", "v1-rc1"]) is None
    assert check_tags_delete(RULES, "team/app", []) is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (TagRule(0, "immutable", "project", "team", "", "glob"), "pattern must not be empty"),
        (TagRule(0, "immutable", "project", "team", "v(", "regex"), "not a valid regex"),
        (TagRule(0, "immutable", "galaxy", "team", "v*", "glob"), "scope must be"),
        (TagRule(0, "immutable", "project", "team/app", "v*", "glob"), "one path component"),
        (TagRule(0, "immutable", "project", "", "v*", "glob"), "target"),
        (TagRule(0, "deny-latest", "project", "team", "v*", "glob"), "takes no pattern"),
        (TagRule(0, "immutable", "project", "team", "v*", "glob", ("",)), "exclude must not"),
    ],
)
def test_invalid_rules(rule: TagRule, message: str) -> None:
    with pytest.raises(RuleInvalid, match=message):
        validate_rule(rule)
