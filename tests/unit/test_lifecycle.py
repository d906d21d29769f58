"""Lifecycle policies: ECR's validation and evaluation rules, with ECR's documented answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cargohold.policy.lifecycle import (
    DAY,
    ImageFacts,
    LifecyclePolicyError,
    evaluate_lifecycle,
    parse_lifecycle_policy,
)

NOW = 1_800_000_000.0
SEED_POLICY = Path(__file__).parents[1] / "data" / "lifecycle" / "seed-policy.json"


def image(
    name: str,
    tags: list[str],
    days_ago: float,
    pulled_days_ago: float | None = None,
    has_parent: bool = False,
) -> ImageFacts:
    return ImageFacts(
        digest=f"sha256:{name}",
        tags=tuple(tags),
        pushed_at=NOW - days_ago * DAY,
        last_pulled_at=None if pulled_days_ago is None else NOW - pulled_days_ago * DAY,
        has_parent=has_parent,
    )


def rule(
    priority: int,
    tag_status: str = "tagged",
    count_type: str = "imageCountMoreThan",
    count: int = 1,
    **selection: Any,
) -> dict[str, Any]:
    chosen: dict[str, Any] = {
        "tagStatus": tag_status,
        "countType": count_type,
        "countNumber": count,
        **selection,
    }
    if count_type != "imageCountMoreThan":
        chosen["countUnit"] = "days"
    return {
        "rulePriority": priority,
        "description": f"Rule {priority}",
        "selection": chosen,
        "action": {"type": "expire"},
    }


def expired(policy: dict[str, Any], images: list[ImageFacts]) -> dict[str, int | None]:
    result = evaluate_lifecycle(parse_lifecycle_policy(policy), images, NOW)
    return {d.image.digest.split(":")[1]: d.rule_priority for d in result.expired}


# -- AWS's documented examples (ECR user guide, "Examples of lifecycle policies") ------------

AB_C = [
    image("A", ["beta-1", "prod-1"], 10),
    image("B", ["beta-2", "prod-2"], 9),
    image("C", ["beta-3"], 8),
]


def test_aws_multiple_rules_example_a() -> None:
    policy = {"rules": [rule(1, tagPrefixList=["prod"]), rule(2, tagPrefixList=["beta"])]}
    # Rule 2 would mark A and B, but B matches rule 1's tagging and is shielded by it.
    assert expired(policy, AB_C) == {"A": 1}


def test_aws_multiple_rules_example_b() -> None:
    policy = {"rules": [rule(1, tagPrefixList=["beta"]), rule(2, tagPrefixList=["prod"])]}
    assert expired(policy, AB_C) == {"A": 1, "B": 1}


def test_aws_multiple_tags_in_one_rule_example_a() -> None:
    images = [
        image("A", ["alpha-1"], 12),
        image("B", ["beta-1"], 11),
        image("C", ["alpha-2", "beta-2"], 10),
        image("D", ["alpha-3"], 4),
        image("E", ["beta-3"], 3),
        image("F", ["alpha-4", "beta-4"], 2),
    ]
    policy = {
        "rules": [rule(1, count_type="sinceImagePushed", count=5, tagPrefixList=["alpha", "beta"])]
    }
    assert expired(policy, images) == {"C": 1}


def test_aws_multiple_tags_in_one_rule_example_b() -> None:
    images = [
        image("A", ["alpha-1", "beta-1", "gamma-1"], 10),
        image("B", ["alpha-2", "beta-2"], 9),
        image("C", ["alpha-3", "beta-3", "gamma-2"], 8),
    ]
    policy = {"rules": [rule(1, tagPrefixList=["alpha", "beta"])]}
    assert expired(policy, images) == {"A": 1, "B": 1}


def test_aws_untagged_age_and_count_examples() -> None:
    images = [
        image("old", [], 20),
        image("mid", [], 10),
        image("new", [], 1),
        image("tagged", ["v1"], 30),
    ]
    by_age = {"rules": [rule(1, "untagged", "sinceImagePushed", 14)]}
    assert expired(by_age, images) == {"old": 1}
    keep_one = {"rules": [rule(1, "untagged", count=1)]}
    assert expired(keep_one, images) == {"old": 1, "mid": 1}


def test_aws_pattern_example_prod_star_older_than_14_days() -> None:
    images = [
        image("p-old", ["prod-1"], 20),
        image("p-new", ["prod-2"], 3),
        image("x-old", ["preprod-1"], 20),
    ]
    policy = {"rules": [rule(1, count_type="sinceImagePushed", count=14, tagPatternList=["prod*"])]}
    assert expired(policy, images) == {"p-old": 1}
    contains = {
        "rules": [rule(1, count_type="sinceImagePushed", count=14, tagPatternList=["*prod*"])]
    }
    assert expired(contains, images) == {"p-old": 1, "x-old": 1}


# -- the seed policy (keep 100 v*, staging 90 days, develop+feature 30 days, untagged 7) -----


def test_seed_policy_gives_ecrs_answer_and_warns_about_its_third_rule() -> None:
    policy = parse_lifecycle_policy(SEED_POLICY.read_text())
    assert len(policy.warnings) == 1
    assert "rulePriority 3" in policy.warnings[0] and "ALL" in policy.warnings[0]
    images = [image(f"v{i}", [f"v1.{i}.0"], 400 - i) for i in range(105)]
    images += [
        image("staging-old", ["staging-2024"], 120),
        image("staging-new", ["staging-2026"], 10),
        image("develop-old", ["develop-abc"], 60),
        image("feature-old", ["feature-login"], 60),
        image("both-old", ["develop-1", "feature-1"], 60),
        image("both-new", ["develop-2", "feature-2"], 5),
        image("untagged-old", [], 30),
        image("untagged-new", [], 2),
        image("other-old", ["nightly-1"], 365),
    ]
    result = expired(json.loads(SEED_POLICY.read_text()), images)
    # The 5 oldest v* images go (100 kept); only images tagged develop* AND feature* fall
    # under rule 3, so develop-only and feature-only images stay, however old.
    assert result == {
        **{f"v{i}": 1 for i in range(5)},
        "staging-old": 2,
        "both-old": 3,
        "untagged-old": 4,
    }


# -- evaluation rules ------------------------------------------------------------------------


def test_a_keep_rule_shields_what_it_matches_from_an_any_rule() -> None:
    images = [image(f"prod{i}", [f"prod-{i}"], 100 - i) for i in range(5)]
    images += [image("dev", ["dev-1"], 50)]
    policy = {
        "rules": [rule(1, count=3, tagPrefixList=["prod"]), rule(2, "any", "sinceImagePushed", 1)]
    }
    # Rule 1 keeps the 3 newest prod images and expires 2; rule 2 expires everything else
    # older than a day, but never the prod images rule 1 matched and kept.
    assert expired(policy, images) == {"prod0": 1, "prod1": 1, "dev": 2}


def test_lower_rules_count_images_they_cannot_mark() -> None:
    images = [image("a", ["x-1", "y-1"], 3), image("b", ["y-2"], 2), image("c", ["y-3"], 1)]
    policy = {
        "rules": [rule(1, count=5, tagPrefixList=["x"]), rule(2, count=1, tagPrefixList=["y"])]
    }
    # Rule 2 counts a, b and c (keeping only c), so b goes; a is shielded by rule 1.
    assert expired(policy, images) == {"b": 2}


def test_since_image_pulled_counts_from_push_when_never_pulled() -> None:
    images = [
        image("pulled-recently", ["t1"], 100, pulled_days_ago=2),
        image("pulled-long-ago", ["t2"], 100, pulled_days_ago=50),
        image("never-pulled-old", ["t3"], 100),
        image("never-pulled-new", ["t4"], 5),
    ]
    policy = {"rules": [rule(1, "any", "sinceImagePulled", 30)]}
    assert expired(policy, images) == {"pulled-long-ago": 1, "never-pulled-old": 1}


def test_children_and_referrers_are_never_selected_on_their_own() -> None:
    images = [
        image("index", ["v1"], 50),
        image("child", [], 50, has_parent=True),
        image("sig", [], 50, has_parent=True),
        image("loose", [], 50),
    ]
    policy = {"rules": [rule(1, "untagged", "sinceImagePushed", 1)]}
    assert expired(policy, images) == {"loose": 1}


def test_count_ties_break_by_digest_so_results_are_stable() -> None:
    images = [image(name, ["t"], 5) for name in ("c", "a", "b")]
    policy = {"rules": [rule(1, count=1, tagPrefixList=["t"])]}
    assert expired(policy, images) == {"a": 1, "b": 1}


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"rules": []}, "rules: must be a non-empty list"),
        (
            {"rules": [rule(1, tagPrefixList=["a"]), rule(1, tagPrefixList=["b"])]},
            "rulePriority 1 is used by more than one rule",
        ),
        (
            {"rules": [rule(1, tagPrefixList=["a", "b"]), rule(2, tagPrefixList=["b", "a"])]},
            "select the same tag prefixes",
        ),
        (
            {"rules": [rule(1, "untagged"), rule(2, "untagged", "sinceImagePushed", 3)]},
            "only one rule may select untagged images",
        ),
        (
            {"rules": [rule(1, "any"), rule(2, tagPrefixList=["a"])]},
            "must have the highest rulePriority",
        ),
        ({"rules": [rule(1, tagPrefixList=["a"], tagPatternList=["b*"])]}, "not both"),
        ({"rules": [rule(1)]}, "needs a tagPrefixList or tagPatternList"),
        ({"rules": [rule(1, "untagged", tagPrefixList=["a"])]}, "takes no tagPrefixList"),
        ({"rules": [rule(1, tagPatternList=["a*b*c*d*e*f"])]}, "at most 4 are allowed"),
        (
            {"rules": [rule(1, tagPatternList=["v" * 257 + "*"])]},
            "tagPatternList[0]: is 258 characters long; at most 256 are allowed",
        ),
        ({"rules": [rule(1, tagPrefixList=["a"], count=0)]}, "0 is not accepted"),
        (
            {
                "rules": [
                    {
                        **rule(1, tagPrefixList=["a"]),
                        "action": {"type": "transition", "targetStorageClass": "archive"},
                    }
                ]
            },
            "'transition'",
        ),
        ({"rules": [rule(1, "any", "sinceImageTransitioned", 3)]}, "archive"),
        ({"rules": [rule(1, tagPrefixList=["a"], storageClass="archive")]}, "storageClass"),
        (
            {"rules": [rule(1, tagPrefixList=["a"], countUnit="days")]},
            "countUnit: not allowed with imageCountMoreThan",
        ),
        ({"rules": [{**rule(1, tagPrefixList=["a"]), "extra": 1}]}, "rules[0].extra: unknown"),
    ],
)
def test_invalid_policies_say_what_is_wrong_and_where(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(LifecyclePolicyError) as raised:
        parse_lifecycle_policy(policy)
    assert message in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    bad = {
        "rules": [
            rule(1, tagPrefixList=["a"], count=0),
            {**rule(2, "sometimes"), "action": {"type": "delete"}},
        ]
    }
    with pytest.raises(LifecyclePolicyError) as raised:
        parse_lifecycle_policy(bad)
    problems = raised.value.problems
    assert any(p.startswith("rules[0].selection.countNumber") for p in problems)
    assert any(p.startswith("rules[1].selection.tagStatus") for p in problems)
    assert any(p.startswith("rules[1].action.type") for p in problems)


def test_invalid_json_text() -> None:
    with pytest.raises(LifecyclePolicyError, match="not valid JSON"):
        parse_lifecycle_policy('{"rules": [')


def test_duplicate_priorities_are_reported_with_the_other_problems() -> None:
    bad = {
        "rules": [
            rule(1, tagPrefixList=["a"], count=0),
            rule(1, tagPrefixList=["b"]),
            {**rule(2, "any"), "action": {"type": "delete"}},
            rule(2, "untagged"),
        ]
    }
    with pytest.raises(LifecyclePolicyError) as raised:
        parse_lifecycle_policy(bad)
    problems = raised.value.problems
    assert any(p.startswith("rules[0].selection.countNumber") for p in problems)
    assert any(p.startswith("rules[2].action.type") for p in problems)
    assert "rulePriority 1 is used by more than one rule: rules[0], rules[1]" in problems
    assert "rulePriority 2 is used by more than one rule: rules[2], rules[3]" in problems
