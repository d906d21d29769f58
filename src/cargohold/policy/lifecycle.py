"""ECR-compatible lifecycle policies: validation and evaluation, as pure functions.

A policy is the JSON document AWS ECR accepts (`rules[]` with `rulePriority`,
`selection` and `action`), taken unchanged. Evaluation follows ECR's published
rules exactly:

- every rule is evaluated on the full set of images, regardless of priority;
- an image is expired by at most one rule;
- an image that matches the tagging requirements of a rule is shielded from every
  lower-priority rule: the highest-priority rule whose selection matches an image
  decides its fate, whether or not that rule marks it;
- lower rules still count shielded images (`imageCountMoreThan`), they just cannot
  mark them;
- counts and ages are ordered by push time, oldest expired first;
- several entries in one `tagPrefixList` or `tagPatternList` select images that
  carry all of them (AND), which is rarely what people mean: `warnings` says so.

cargohold's extension: `sinceImagePulled` with `expire` (an image never pulled counts
from its push). ECR's archive storage class and `transition` action are refused.

Manifests reachable from another manifest (index children, referrers through
`subject`) are never selected on their own: they go when their parent goes. The
caller marks them with `ImageFacts.has_parent`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cargohold.parsing.json_document import JsonInvalid, load_json
from cargohold.policy.patterns import MAX_PATTERN_LENGTH, wildcard_regex

DAY = 86400.0
MAX_WILDCARDS = 4

TagStatus = Literal["tagged", "untagged", "any"]
CountType = Literal["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled"]


class LifecyclePolicyError(ValueError):
    """An invalid policy; `problems` lists every error with where it is."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class LifecycleRule:
    priority: int
    description: str
    tag_status: TagStatus
    tag_prefixes: tuple[str, ...] = ()
    tag_patterns: tuple[str, ...] = ()
    count_type: CountType = "imageCountMoreThan"
    count_number: int = 1

    def selects(self, tags: Sequence[str]) -> bool:
        """Whether an image with `tags` meets this rule's tagging requirements."""
        if self.tag_status == "any":
            return True
        if self.tag_status == "untagged":
            return not tags
        if not tags:
            return False
        if self.tag_prefixes:
            return all(any(t.startswith(p) for t in tags) for p in self.tag_prefixes)
        return all(
            any(wildcard_regex(p).fullmatch(t) is not None for t in tags) for p in self.tag_patterns
        )


@dataclass(frozen=True)
class LifecyclePolicy:
    rules: tuple[LifecycleRule, ...]
    warnings: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class ImageFacts:
    """What a rule needs to know about one image (one manifest) of a repository."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    last_pulled_at: float | None = None
    has_parent: bool = False


@dataclass(frozen=True)
class ImageDecision:
    image: ImageFacts
    expire: bool
    # The rule that decided: the one that expires the image, or the one that shields it.
    rule_priority: int | None


@dataclass
class LifecycleResult:
    decisions: list[ImageDecision] = field(default_factory=list)

    @property
    def expired(self) -> list[ImageDecision]:
        return [d for d in self.decisions if d.expire]


# -- validation ------------------------------------------------------------------------

_RULE_KEYS = {"rulePriority", "description", "selection", "action"}
_SELECTION_KEYS = {
    "tagStatus",
    "tagPrefixList",
    "tagPatternList",
    "storageClass",
    "countType",
    "countUnit",
    "countNumber",
}
_ACTION_KEYS = {"type", "targetStorageClass"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tag_list(value: Any, where: str, problems: list[str], patterns: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f"{where}: must be a non-empty list of strings")
        return ()
    items: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            problems.append(f"{where}[{i}]: must be a non-empty string")
            continue
        if patterns and len(item) > MAX_PATTERN_LENGTH:
            problems.append(
                f"{where}[{i}]: is {len(item)} characters long; at most {MAX_PATTERN_LENGTH}"
                " are allowed"
            )
        elif patterns and item.count("*") > MAX_WILDCARDS:
            problems.append(
                f"{where}[{i}]: {item!r} has {item.count('*')} wildcards; at most "
                f"{MAX_WILDCARDS} are allowed"
            )
        items.append(item)
    return tuple(items)


def _parse_rule(
    raw: Any, where: str, problems: list[str], warnings: list[str]
) -> LifecycleRule | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: a rule must be a JSON object")
        return None
    before = len(problems)
    for key in sorted(set(raw) - _RULE_KEYS):
        problems.append(f"{where}.{key}: unknown field")
    priority = raw.get("rulePriority")
    if not _is_int(priority) or priority < 1:
        problems.append(f"{where}.rulePriority: must be a positive integer")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}.description: must be a string")
        description = ""

    action = raw.get("action")
    if not isinstance(action, dict):
        problems.append(f'{where}.action: required, e.g. {{"type": "expire"}}')
    else:
        for key in sorted(set(action) - _ACTION_KEYS):
            problems.append(f"{where}.action.{key}: unknown field")
        if action.get("type") == "transition":
            problems.append(
                f"{where}.action.type: 'transition' (ECR's archive storage class) is not "
                "supported; cargohold has one storage class, use 'expire'"
            )
        elif action.get("type") != "expire":
            problems.append(f"{where}.action.type: must be 'expire'")
        if "targetStorageClass" in action:
            problems.append(f"{where}.action.targetStorageClass: archive is not supported")

    selection = raw.get("selection")
    if not isinstance(selection, dict):
        problems.append(f"{where}.selection: required JSON object")
        return None
    at = f"{where}.selection"
    for key in sorted(set(selection) - _SELECTION_KEYS):
        problems.append(f"{at}.{key}: unknown field")
    storage_class = selection.get("storageClass", "standard")
    if storage_class != "standard":
        problems.append(
            f"{at}.storageClass: only 'standard' is supported (ECR's archive storage class is not)"
        )
    tag_status = selection.get("tagStatus")
    if tag_status not in ("tagged", "untagged", "any"):
        problems.append(f"{at}.tagStatus: must be 'tagged', 'untagged' or 'any'")
    has_prefixes = "tagPrefixList" in selection
    has_patterns = "tagPatternList" in selection
    prefixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    if tag_status == "tagged":
        if has_prefixes and has_patterns:
            problems.append(f"{at}: use tagPrefixList or tagPatternList, not both")
        elif not has_prefixes and not has_patterns:
            problems.append(f"{at}: tagStatus 'tagged' needs a tagPrefixList or tagPatternList")
        if has_prefixes:
            prefixes = _tag_list(selection["tagPrefixList"], f"{at}.tagPrefixList", problems, False)
        if has_patterns:
            patterns = _tag_list(
                selection["tagPatternList"], f"{at}.tagPatternList", problems, True
            )
        entries = prefixes or patterns
        if len(entries) > 1:
            kind = "prefixes" if prefixes else "patterns"
            warnings.append(
                f"{where} (rulePriority {priority}) selects only images that carry ALL of the "
                f"tag {kind} {list(entries)} (ECR's AND); to select images with ANY of them, "
                "write one rule per entry"
            )
    elif tag_status in ("untagged", "any") and (has_prefixes or has_patterns):
        problems.append(f"{at}: tagStatus '{tag_status}' takes no tagPrefixList or tagPatternList")

    count_type = selection.get("countType")
    count_number = selection.get("countNumber")
    count_unit = selection.get("countUnit")
    if count_type == "sinceImageTransitioned":
        problems.append(f"{at}.countType: 'sinceImageTransitioned' needs ECR's archive class")
    elif count_type not in ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled"):
        problems.append(
            f"{at}.countType: must be 'imageCountMoreThan', 'sinceImagePushed' or "
            "'sinceImagePulled'"
        )
    elif count_type == "imageCountMoreThan":
        if count_unit is not None:
            problems.append(f"{at}.countUnit: not allowed with imageCountMoreThan")
    elif count_unit != "days":
        problems.append(f"{at}.countUnit: must be 'days' with {count_type}")
    if not _is_int(count_number) or count_number < 1:
        problems.append(f"{at}.countNumber: must be a positive integer (0 is not accepted)")

    if len(problems) > before:
        return None
    return LifecycleRule(
        priority=priority,
        description=description,
        tag_status=tag_status,
        tag_prefixes=prefixes,
        tag_patterns=patterns,
        count_type=count_type,
        count_number=count_number,
    )


def parse_lifecycle_policy(document: str | Mapping[str, Any]) -> LifecyclePolicy:
    """Validate an ECR lifecycle policy; raises LifecyclePolicyError naming every problem."""
    if isinstance(document, str):
        text = document
        try:
            document = load_json(document)
        except JsonInvalid as exc:
            raise LifecyclePolicyError([f"policy is not valid JSON: {exc}"]) from None
    else:
        text = json.dumps(document)
    if not isinstance(document, Mapping):
        raise LifecyclePolicyError(["policy must be a JSON object with a 'rules' list"])
    problems: list[str] = [f"{key}: unknown field" for key in sorted(set(document) - {"rules"})]
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise LifecyclePolicyError([*problems, "rules: must be a non-empty list"])
    warnings: list[str] = []
    rules = [
        rule
        for i, raw in enumerate(raw_rules)
        if (rule := _parse_rule(raw, f"rules[{i}]", problems, warnings)) is not None
    ]
    # Every check runs whatever else is wrong, so one round of fixes is enough: priorities are
    # read from every rule (an otherwise invalid rule still holds its number), the other
    # rule-set checks look at the rules that parsed.
    problems.extend(_check_rule_set(rules, _raw_priorities(raw_rules)))
    if problems:
        raise LifecyclePolicyError(problems)
    return LifecyclePolicy(tuple(sorted(rules, key=lambda r: r.priority)), tuple(warnings), text)


def _raw_priorities(raw_rules: list[Any]) -> dict[int, list[str]]:
    """Each valid rulePriority with where it is, whether or not the rest of its rule is valid."""
    holders: dict[int, list[str]] = {}
    for i, raw in enumerate(raw_rules):
        priority = raw.get("rulePriority") if isinstance(raw, dict) else None
        if _is_int(priority) and priority >= 1:
            holders.setdefault(priority, []).append(f"rules[{i}]")
    return holders


def _check_rule_set(rules: list[LifecycleRule], priorities: dict[int, list[str]]) -> list[str]:
    """Checks across rules: `rules` are the valid ones, `priorities` come from every rule."""
    problems = [
        f"rulePriority {priority} is used by more than one rule: {', '.join(where)}"
        for priority, where in sorted(priorities.items())
        if len(where) > 1
    ]
    seen_lists: dict[tuple[str, frozenset[str]], int] = {}
    untagged = [r for r in rules if r.tag_status == "untagged"]
    any_rules = [r for r in rules if r.tag_status == "any"]
    for rule in rules:
        if rule.tag_status == "tagged":
            key = (
                "prefixes" if rule.tag_prefixes else "patterns",
                frozenset(rule.tag_prefixes or rule.tag_patterns),
            )
            if key in seen_lists:
                problems.append(
                    f"rules {seen_lists[key]} and {rule.priority} select the same tag "
                    f"{key[0]} {sorted(key[1])}: each rule needs its own set"
                )
            seen_lists[key] = rule.priority
    if len(untagged) > 1:
        problems.append(
            "only one rule may select untagged images; rules "
            + ", ".join(str(r.priority) for r in untagged)
            + " do"
        )
    if len(any_rules) > 1:
        problems.append("only one rule may have tagStatus 'any'")
    if any_rules and any_rules[0].priority != max(priorities):
        problems.append(
            f"the rule with tagStatus 'any' (rulePriority {any_rules[0].priority}) must have "
            "the highest rulePriority: it is evaluated last"
        )
    return problems


# -- evaluation ------------------------------------------------------------------------


def _marked(rule: LifecycleRule, matched: list[ImageFacts], now: float) -> set[str]:
    """Digests this rule would expire among the images it matches (all of them counted)."""
    if rule.count_type == "imageCountMoreThan":
        youngest_first = sorted(matched, key=lambda i: (i.pushed_at, i.digest), reverse=True)
        return {image.digest for image in youngest_first[rule.count_number :]}
    cutoff = now - rule.count_number * DAY
    if rule.count_type == "sinceImagePushed":
        return {image.digest for image in matched if image.pushed_at < cutoff}
    return {
        image.digest
        for image in matched
        if (image.last_pulled_at if image.last_pulled_at is not None else image.pushed_at) < cutoff
    }


def evaluate_lifecycle(
    policy: LifecyclePolicy, images: Iterable[ImageFacts], now: float
) -> LifecycleResult:
    """Decide, for every image, whether the policy expires it and which rule decided."""
    candidates = [image for image in images if not image.has_parent]
    marked_by_rule: dict[int, set[str]] = {}
    for rule in policy.rules:
        matched = [image for image in candidates if rule.selects(image.tags)]
        marked_by_rule[rule.priority] = _marked(rule, matched, now)
    result = LifecycleResult()
    for image in sorted(candidates, key=lambda i: (i.pushed_at, i.digest)):
        deciding = next((r for r in policy.rules if r.selects(image.tags)), None)
        if deciding is None:
            result.decisions.append(ImageDecision(image, False, None))
        else:
            expire = image.digest in marked_by_rule[deciding.priority]
            result.decisions.append(ImageDecision(image, expire, deciding.priority))
    return result
