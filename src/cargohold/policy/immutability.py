"""Tag immutability: which tags may never move or disappear, as pure decisions.

A rule applies to a project (the first path component of a repository name; a
one-component name is its own project) or to one repository. Its pattern is a
glob by default (`v*`, `release-*`, `sha-????????`; `*` and `?` as in shell
globs, `[...]` classes, matching the whole tag) or, when `kind` is `regex`, an
RE2 regular expression that must match the whole tag (policy/patterns.py: matched
in linear time, so no rule can stall a push). Exclusions use the same kind. A
second kind of rule refuses the tag `latest` in a project or repository.

Immutability guards against overwrites and manual deletes only: re-pushing the
same digest under an immutable tag succeeds, and lifecycle policies may still
expire an immutable tag, as in ECR (a retention hold keeps something for good).

Accessory tags are exempt: a tag that is exactly `sha256-<64 hex>.sig`, `.att`,
`.sbom` or `sha256-<64 hex>` (cosign's and the referrers tag schema's tags) and
names an image in the same repository belongs to that image, is re-pushed each
time the image is signed again, and goes when the image goes. The caller says
which digests are in the repository (`images_here`); a tag of that form naming a
digest the repository does not hold is an ordinary tag.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cargohold.oci.accessories import accessory_subject
from cargohold.oci.names import project_of
from cargohold.policy.patterns import (
    PatternInvalid,
    check_glob,
    compile_regex,
    glob_match,
    regex_fullmatch,
)

log = logging.getLogger("cargohold.policy")

Scope = Literal["project", "repository"]
PatternKind = Literal["glob", "regex"]
RuleKind = Literal["immutable", "deny-latest"]

# Each exclusion is matched on every push of a tag in the rule's scope.
MAX_EXCLUDES = 32


class RuleInvalid(ValueError):
    """A rule that cannot be stored; the message says which field and why."""


@dataclass(frozen=True)
class TagRule:
    id: int
    kind: RuleKind
    scope: Scope
    target: str
    pattern: str = ""
    pattern_kind: PatternKind = "glob"
    excludes: tuple[str, ...] = ()

    def applies_to(self, repository: str) -> bool:
        if self.scope == "repository":
            return repository == self.target
        return project_of(repository) == self.target

    def _matches(self, pattern: str, tag: str) -> bool:
        if self.pattern_kind == "regex":
            return regex_fullmatch(pattern, tag)
        return glob_match(pattern, tag)

    def protects(self, repository: str, tag: str) -> bool:
        """Whether this immutability rule makes `tag` of `repository` immutable."""
        if self.kind != "immutable" or not self.applies_to(repository):
            return False
        try:
            return self._matches(self.pattern, tag) and not any(
                self._matches(exclude, tag) for exclude in self.excludes
            )
        except PatternInvalid as exc:
            # A rule stored before regexes went to RE2 may use syntax RE2 refuses. Such a
            # rule protects every tag in its scope (fail closed: an immutable tag must not
            # move because its rule became unreadable) until it is replaced.
            log.warning("%s: pattern %s; treating every tag as protected", self.describe(), exc)
            return True

    def describe(self) -> str:
        if self.kind == "deny-latest":
            return f"rule {self.id}: no 'latest' tag in {self.scope} {self.target}"
        text = f"rule {self.id}: {self.pattern_kind} {self.pattern!r} on {self.scope} {self.target}"
        if self.excludes:
            text += f" excluding {list(self.excludes)}"
        return text


def validate_rule(rule: TagRule) -> TagRule:
    """Refuse a rule that could never work: bad scope, empty or invalid pattern."""
    if rule.kind not in ("immutable", "deny-latest"):
        raise RuleInvalid(f"kind must be 'immutable' or 'deny-latest', got {rule.kind!r}")
    if rule.scope not in ("project", "repository"):
        raise RuleInvalid(f"scope must be 'project' or 'repository', got {rule.scope!r}")
    if not rule.target:
        raise RuleInvalid("target (a project or repository name) is required")
    if rule.scope == "project" and "/" in rule.target:
        raise RuleInvalid(f"a project is one path component, got {rule.target!r}")
    if rule.kind == "deny-latest":
        if rule.pattern or rule.excludes:
            raise RuleInvalid("a deny-latest rule takes no pattern or exclusions")
        return rule
    if rule.pattern_kind not in ("glob", "regex"):
        raise RuleInvalid(f"pattern kind must be 'glob' or 'regex', got {rule.pattern_kind!r}")
    if len(rule.excludes) > MAX_EXCLUDES:
        raise RuleInvalid(f"at most {MAX_EXCLUDES} exclusions are allowed per rule")
    for field, pattern in (("pattern", rule.pattern), *(("exclude", e) for e in rule.excludes)):
        if not pattern:
            raise RuleInvalid(f"{field} must not be empty")
        try:
            if rule.pattern_kind == "regex":
                compile_regex(pattern)
            else:
                check_glob(pattern)
        except PatternInvalid as exc:
            shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
            raise RuleInvalid(f"{field} {shown!r} {exc}") from None
    return rule


def is_accessory_tag(tag: str, images_here: Container[str]) -> bool:
    """Whether `tag` is exactly an accessory tag naming an image in the repository."""
    subject = accessory_subject(tag)
    return subject is not None and subject in images_here


def _protecting(
    rules: Iterable[TagRule], repository: str, tags: Iterable[str], images_here: Container[str]
) -> list[str]:
    return [
        f"tag {tag!r} is immutable ({rule.describe()})"
        for tag in tags
        if not is_accessory_tag(tag, images_here)
        for rule in rules
        if rule.protects(repository, tag)
    ]


def check_tag_push(
    rules: Sequence[TagRule],
    repository: str,
    tag: str,
    current_digest: str | None,
    new_digest: str,
    images_here: Container[str] = (),
) -> str | None:
    """Why pushing `new_digest` as `tag` is refused, or None when it is allowed.
    `images_here`: the digests in the repository an accessory tag may name (see above)."""
    if tag == "latest":
        for rule in rules:
            if rule.kind == "deny-latest" and rule.applies_to(repository):
                return f"the tag 'latest' is not allowed in {repository} ({rule.describe()})"
    if current_digest is None or current_digest == new_digest:
        return None
    reasons = _protecting(rules, repository, [tag], images_here)
    if reasons:
        return f"{reasons[0]}: it already points to {current_digest}; push a new tag instead"
    return None


def check_tags_delete(
    rules: Sequence[TagRule],
    repository: str,
    tags: Iterable[str],
    images_here: Container[str] = (),
) -> str | None:
    """Why deleting these tags (or a manifest carrying them) is refused, or None."""
    reasons = _protecting(rules, repository, tags, images_here)
    if reasons:
        return f"{reasons[0]} and cannot be deleted"
    return None
