"""User tag patterns: RE2 regexes refused at creation, linear-time matching, ECR wildcards."""

from __future__ import annotations

import re
import time

import pytest

from cargohold.policy.immutability import RuleInvalid, TagRule, validate_rule
from cargohold.policy.lifecycle import LifecycleRule
from cargohold.policy.patterns import (
    MAX_PATTERN_LENGTH,
    PatternInvalid,
    compile_regex,
    regex_fullmatch,
    wildcard_regex,
)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence"),  # a backreference
        (r"(?=v)v.*", "invalid perl operator"),  # lookahead
        (r"(?<!dev)-.*", "invalid perl operator"),  # lookbehind
        (r"a++", "bad repetition operator"),  # possessive
        (r"a{1001}", "invalid repetition size"),
        ("v(", "missing )"),
    ],
)
def test_patterns_re2_refuses_are_rejected_with_its_reason(pattern: str, reason: str) -> None:
    with pytest.raises(PatternInvalid, match="RE2 syntax") as refused:
        compile_regex(pattern)
    assert reason in str(refused.value)
    with pytest.raises(RuleInvalid, match=re.escape(f"pattern {pattern!r} is not a valid regex")):
        validate_rule(TagRule(0, "immutable", "project", "team", pattern, "regex"))


def test_overlong_patterns_and_too_many_exclusions_are_rejected() -> None:
    long = "v" * (MAX_PATTERN_LENGTH + 1)
    for kind in ("glob", "regex"):
        with pytest.raises(RuleInvalid, match=f"at most {MAX_PATTERN_LENGTH} are allowed"):
            validate_rule(TagRule(0, "immutable", "project", "team", long, kind))  # type: ignore[arg-type]
    many = tuple(f"v{n}" for n in range(33))
    with pytest.raises(RuleInvalid, match="at most 32 exclusions"):
        validate_rule(TagRule(0, "immutable", "project", "team", "v*", "glob", many))


def test_the_catastrophic_backtracking_regex_matches_at_once() -> None:
    # Python's re needs about 10 s for 27 a's here, 3.5 times more for each 2 more.
    rule = validate_rule(TagRule(1, "immutable", "project", "team", "(a+)+$", "regex"))
    started = time.perf_counter()
    for length in range(1, 128):
        assert not rule.protects("team/app", "a" * length + "-")
        # Generous: linear time is microseconds; backtracking passes 2 s at about 24 a's.
        assert time.perf_counter() - started < 2.0
    assert rule.protects("team/app", "a" * 127)


def test_regexes_keep_their_meaning() -> None:
    assert regex_fullmatch(r"v\d+\.\d+\.\d+", "v1.22.3")
    assert not regex_fullmatch(r"v\d+\.\d+\.\d+", "v1.22.3-rc1")  # the whole tag must match
    assert regex_fullmatch(r"(?i)rel-[a-z]+", "REL-abc")
    assert regex_fullmatch(r"sha-[[:xdigit:]]{7}", "sha-abc1234")


def test_a_stored_rule_re2_refuses_fails_closed() -> None:
    # Rules validated by Python's re before: they protect every tag in scope until replaced.
    old = TagRule(7, "immutable", "project", "team", r"(?!dev).*", "regex")
    assert old.protects("team/app", "dev")
    assert not old.protects("other/app", "dev")


@pytest.mark.parametrize(
    ("pattern", "tag", "matches"),
    [
        ("prod*", "prod-1", True),
        ("*prod*", "my-prod-1", True),
        ("prod", "prod-1", False),
        ("v1.*", "v1x2", False),  # the dot is literal
        ("a+b*", "a+bc", True),  # and so is everything but *
        ("*a*a*a*b", "a" * 128, False),  # four wildcards over a long tag: no backtracking
        ("é*", "é-1", True),
    ],
)
def test_lifecycle_wildcards(pattern: str, tag: str, matches: bool) -> None:
    assert (wildcard_regex(pattern).fullmatch(tag) is not None) is matches
    rule = LifecycleRule(1, "", "tagged", tag_patterns=(pattern,))
    assert rule.selects([tag]) is matches
