"""What a rule is and what it finds."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    """A finding's weight; SARIF calls them error, warning and note."""

    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True)
class Rule:
    """One check. `id` never changes once published (ignore comments and configs name it);
    `hadolint` lists the hadolint codes that report the same problem, for the comparison."""

    id: str
    name: str
    severity: Severity
    summary: str
    fix: str
    tags: tuple[str, ...] = ()
    hadolint: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One problem at one line (1-based) of one Dockerfile."""

    rule: Rule
    line: int
    message: str
    end_line: int | None = None
    path: str = field(default="Dockerfile", compare=False)

    @property
    def severity(self) -> Severity:
        return self.rule.severity


@dataclass(frozen=True)
class LintOptions:
    """What the config file adds to the rules: the approved base images (patterns, empty for
    no list) and whether base images must be pinned by digest."""

    approved_bases: tuple[str, ...] = ()
    require_digest: bool = False
