"""Trivy-compatible result filters: `--severity`, `--ignore-unfixed`, `--ignorefile`, `--exit-code`.

Pure functions over the finding model. Semantics follow Trivy so a pipeline can
switch tools without rewriting its gates:

- `--severity` is a set (default: every level) that filters what is shown and counted.
- `--ignore-unfixed` drops findings with no known fixed version.
- an ignore file names IDs (any of a finding's IDs: CVE, record ID, aliases); an entry with
  an expiry date ignores until that date and no longer from that date on (Trivy compares
  "now" with the date's midnight UTC).
- `exit_status`: the exit code is returned when any finding survives the filters, or when
  any platform has a blocking inventory problem (e.g. OS packages not inventoried), so an
  image that could not be checked never passes a gate.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from packageurl import PackageURL

from cargohold.scan.findings import SEVERITIES, Finding, PlatformResult, ScanResult


class IgnorefileError(ValueError):
    """The ignore file is missing or malformed. The message is one line."""


@dataclass(frozen=True)
class IgnoreRule:
    """One entry of an ignore file."""

    id: str
    paths: tuple[str, ...] = ()  # globs over the file the package was read from
    purls: tuple[str, ...] = ()
    expires: dt.date | None = None  # ignores while today < expires
    statement: str | None = None

    def active(self, today: dt.date) -> bool:
        return self.expires is None or today < self.expires

    def matches(self, finding: Finding) -> bool:
        if self.id not in finding.ids:
            return False
        if self.paths and not any(_path_matches(p, finding.package.location) for p in self.paths):
            return False
        return not self.purls or any(_purl_matches(p, finding.package.purl) for p in self.purls)


@dataclass(frozen=True)
class IgnoreRules:
    rules: tuple[IgnoreRule, ...] = ()

    def ignores(self, finding: Finding, today: dt.date) -> bool:
        return any(rule.active(today) and rule.matches(finding) for rule in self.rules)


@dataclass(frozen=True)
class ScanFilter:
    severities: frozenset[str] = frozenset(SEVERITIES)
    ignore_unfixed: bool = False
    ignore: IgnoreRules = field(default_factory=IgnoreRules)

    def keeps(self, finding: Finding, today: dt.date) -> bool:
        if finding.severity.level not in self.severities:
            return False
        if self.ignore_unfixed and not finding.fixed:
            return False
        return not self.ignore.ignores(finding, today)


def parse_severities(text: str) -> frozenset[str]:
    """`CRITICAL,HIGH` (any case, spaces allowed) -> a set of levels; ValueError on others."""
    levels = {part.strip().upper() for part in text.split(",") if part.strip()}
    unknown = sorted(levels - set(SEVERITIES))
    if unknown or not levels:
        raise ValueError(
            f"unknown severity {', '.join(unknown) or repr(text)}: "
            f"expected a comma-separated list of {','.join(SEVERITIES)}"
        )
    return frozenset(levels)


def apply_filter(result: ScanResult, scan_filter: ScanFilter, today: dt.date) -> ScanResult:
    """The same result with only the findings the filter keeps; inventories are unchanged."""
    platforms = [
        PlatformResult(p.inventory, [f for f in p.findings if scan_filter.keeps(f, today)])
        for p in result.platforms
    ]
    return replace(result, platforms=platforms)


def exit_status(filtered: ScanResult, exit_code: int) -> int:
    """Trivy's `--exit-code`: `exit_code` when anything survived the filters, else 0.

    A blocking inventory problem (OS packages that could not be read) counts as a surviving
    finding whatever `--severity` says: an image that was not checked must not pass a gate.
    With `exit_code` 0 (warn-only) the status is always 0; the report shows the problem.
    """
    if exit_code == 0:
        return 0
    for platform in filtered.platforms:
        if platform.findings or any(p.blocking for p in platform.inventory.problems):
            return exit_code
    return 0


def load_ignorefile(path: Path) -> IgnoreRules:
    """Read a `.trivyignore` (plain) or `.trivyignore.yaml` / `.yml` (YAML) file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IgnorefileError(f"ignore file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IgnorefileError(f"cannot read ignore file {path}: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return _parse_yaml(text, path)
    return _parse_plain(text, path)


def _parse_plain(text: str, path: Path) -> IgnoreRules:
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        fields = line.split()
        expires = None
        for extra in fields[1:]:
            if extra.startswith("exp:"):
                expires = _parse_date(extra[4:], f"{path}:{number}")
        rules.append(IgnoreRule(id=fields[0], expires=expires))
    return IgnoreRules(tuple(rules))


def _strip_comment(line: str) -> str:
    """`#` starts a comment at the start of a line or after whitespace."""
    if line.lstrip().startswith("#"):
        return ""
    for i, char in enumerate(line):
        if char == "#" and line[i - 1].isspace():
            return line[:i]
    return line


def _parse_date(text: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise IgnorefileError(
            f"{where}: invalid expiry date {text!r}, expected YYYY-MM-DD"
        ) from None


def _parse_yaml(text: str, path: Path) -> IgnoreRules:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise IgnorefileError(f"{where}: {problem}") from None
    if document is None:
        return IgnoreRules()
    if not isinstance(document, dict):
        raise IgnorefileError(f"{path}: expected a mapping with a 'vulnerabilities' list")
    entries = document.get("vulnerabilities") or []
    if not isinstance(entries, list):
        raise IgnorefileError(f"{path}: 'vulnerabilities' must be a list")
    return IgnoreRules(
        tuple(_yaml_rule(e, f"{path}: vulnerabilities[{i}]") for i, e in enumerate(entries))
    )


def _yaml_rule(entry: Any, where: str) -> IgnoreRule:
    if not isinstance(entry, dict):
        raise IgnorefileError(f"{where}: expected a mapping with an 'id'")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise IgnorefileError(f"{where}: 'id' must be a non-empty string")
    expires = entry.get("expired_at")
    if isinstance(expires, dt.datetime):
        expires = expires.date()
    elif isinstance(expires, str):
        expires = _parse_date(expires, where)
    elif expires is not None and not isinstance(expires, dt.date):
        raise IgnorefileError(f"{where}: 'expired_at' must be a date YYYY-MM-DD")
    statement = entry.get("statement")
    return IgnoreRule(
        id=rule_id.strip(),
        paths=_strings(entry.get("paths"), f"{where}.paths"),
        purls=tuple(
            _checked_purl(p, f"{where}.purls")
            for p in _strings(entry.get("purls"), f"{where}.purls")
        ),
        expires=expires,
        statement=str(statement) if statement is not None else None,
    )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IgnorefileError(f"{where}: expected a list of strings")
    return tuple(value)


def _checked_purl(text: str, where: str) -> str:
    try:
        PackageURL.from_string(text)
    except ValueError as exc:
        raise IgnorefileError(f"{where}: invalid purl {text!r} ({exc})") from None
    return text


def _path_matches(pattern: str, location: str) -> bool:
    """Trivy matches `paths` as globs; locations here have no leading slash."""
    return fnmatch.fnmatchcase(location, pattern.lstrip("/"))


def _purl_matches(rule: str, purl: str) -> bool:
    """Type, namespace and name must equal; version and qualifiers only when the rule has them."""
    want, have = PackageURL.from_string(rule), _parse_purl(purl)
    if have is None:
        return rule == purl
    if (want.type, want.namespace, want.name) != (have.type, have.namespace, have.name):
        return False
    if want.version and want.version != have.version:
        return False
    return _items(want.qualifiers) <= _items(have.qualifiers)


def _parse_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _items(qualifiers: dict[str, str] | str | None) -> set[tuple[str, str]]:
    return set(qualifiers.items()) if isinstance(qualifiers, dict) else set()
