"""OSV vulnerability records (https://ossf.github.io/osv-schema/) as frozen dataclasses.

`parse_record` checks the structure the matcher relies on and raises `InvalidRecord`
with a one-line message naming the record and the field; fields the matcher does not
use (credits, schema_version, ...) are ignored, as the schema asks of consumers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from packaging.utils import canonicalize_name

from cargohold.scan.errors import InvalidRecord

RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER", "GIT"})
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


@dataclass(frozen=True)
class SeverityEntry:
    type: str  # CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu, or a type this code does not know
    score: str  # a CVSS vector, or the Ubuntu priority


@dataclass(frozen=True)
class Event:
    kind: str  # one of EVENT_KINDS
    value: str


@dataclass(frozen=True)
class Range:
    type: str  # ECOSYSTEM, SEMVER or GIT
    events: tuple[Event, ...]
    repo: str | None = None


@dataclass(frozen=True)
class AffectedPackage:
    ecosystem: str  # the full string, e.g. "Debian:12"; "" when the entry names no package
    name: str
    purl: str | None = None
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    severity: tuple[SeverityEntry, ...] = ()
    ecosystem_specific: dict[str, Any] = field(default_factory=dict, hash=False)
    database_specific: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class OsvRecord:
    id: str
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    summary: str | None = None
    details: str | None = None
    severity: tuple[SeverityEntry, ...] = ()
    affected: tuple[AffectedPackage, ...] = ()
    references: tuple[str, ...] = ()  # URLs
    database_specific: dict[str, Any] = field(default_factory=dict, hash=False)


# Ecosystems whose package names are compared in lower case (see normalize_name).
CASE_INSENSITIVE_ECOSYSTEMS = ("NuGet", "Packagist")


def ecosystem_base(ecosystem: str) -> str:
    """The ecosystem without its release suffix: "Debian:12" -> "Debian"."""
    return ecosystem.partition(":")[0]


def normalize_name(ecosystem: str, name: str) -> str:
    """A package name as records and inventories are matched on.

    PyPI names are compared in their PEP 503 normal form (the schema says records
    carry it; installed metadata may not). NuGet package IDs and Packagist names are
    case-insensitive in their registries (nuget.org serves `Newtonsoft.Json` as
    `newtonsoft.json`; Composer lowercases what it resolves): compared in lower case.
    Every other ecosystem's names are exact: Maven coordinates, Go module paths, npm,
    crates.io and distro package names are case-sensitive.
    """
    base = ecosystem_base(ecosystem)
    if base == "PyPI":
        return canonicalize_name(name)
    if base in CASE_INSENSITIVE_ECOSYSTEMS:
        return name.lower()
    return name


def parse_record(data: object) -> OsvRecord:
    """An OsvRecord from one decoded OSV JSON document."""
    if not isinstance(data, dict):
        raise InvalidRecord(f"OSV record is not a JSON object but {_kind(data)}")
    record_id = data.get("id")
    if not isinstance(record_id, str) or not record_id.strip():
        raise InvalidRecord("OSV record has no id (a non-empty string is required)")
    return _Parser(record_id).record(data)


class _Parser:
    """Field readers that name the record and the field path in their errors."""

    def __init__(self, record_id: str) -> None:
        self.record_id = record_id

    def fail(self, path: str, problem: str) -> InvalidRecord:
        return InvalidRecord(f"OSV record {self.record_id}: {path} {problem}")

    def record(self, data: dict[str, Any]) -> OsvRecord:
        modified = self.timestamp(data, "modified", "modified")
        if modified is None:
            raise self.fail("modified", "is required")
        return OsvRecord(
            id=self.record_id,
            modified=modified,
            published=self.timestamp(data, "published", "published"),
            withdrawn=self.timestamp(data, "withdrawn", "withdrawn"),
            aliases=self.strings(data, "aliases", "aliases"),
            upstream=self.strings(data, "upstream", "upstream"),
            related=self.strings(data, "related", "related"),
            summary=self.text(data, "summary", "summary"),
            details=self.text(data, "details", "details"),
            severity=self.severities(data, "severity"),
            affected=tuple(
                self.affected(item, f"affected[{i}]")
                for i, item in enumerate(self.objects(data, "affected", "affected"))
            ),
            references=self.references(data),
            database_specific=self.mapping(data, "database_specific", "database_specific"),
        )

    def affected(self, item: dict[str, Any], path: str) -> AffectedPackage:
        package = self.mapping(item, "package", f"{path}.package")
        ecosystem = name = ""
        if package:
            ecosystem = self.required_text(package, "ecosystem", f"{path}.package.ecosystem")
            name = self.required_text(package, "name", f"{path}.package.name")
        return AffectedPackage(
            ecosystem=ecosystem,
            name=name,
            purl=self.text(package, "purl", f"{path}.package.purl"),
            ranges=tuple(
                self.range(r, f"{path}.ranges[{i}]")
                for i, r in enumerate(self.objects(item, "ranges", f"{path}.ranges"))
            ),
            versions=self.strings(item, "versions", f"{path}.versions"),
            severity=self.severities(item, f"{path}.severity"),
            ecosystem_specific=self.mapping(
                item, "ecosystem_specific", f"{path}.ecosystem_specific"
            ),
            database_specific=self.mapping(item, "database_specific", f"{path}.database_specific"),
        )

    def range(self, item: dict[str, Any], path: str) -> Range:
        range_type = item.get("type")
        if range_type not in RANGE_TYPES:
            raise self.fail(f"{path}.type", f"must be ECOSYSTEM, SEMVER or GIT, not {range_type!r}")
        events = []
        for i, event in enumerate(self.objects(item, "events", f"{path}.events")):
            if len(event) != 1 or next(iter(event)) not in EVENT_KINDS:
                raise self.fail(
                    f"{path}.events[{i}]",
                    "must have exactly one of introduced, fixed, last_affected, limit",
                )
            kind, value = next(iter(event.items()))
            if not isinstance(value, str) or not value:
                raise self.fail(f"{path}.events[{i}].{kind}", "must be a non-empty string")
            events.append(Event(kind, value))
        if not events:
            raise self.fail(f"{path}.events", "must not be empty")
        return Range(range_type, tuple(events), self.text(item, "repo", f"{path}.repo"))

    def severities(self, data: dict[str, Any], path: str) -> tuple[SeverityEntry, ...]:
        entries = []
        for i, item in enumerate(self.objects(data, "severity", path)):
            entries.append(
                SeverityEntry(
                    type=self.required_text(item, "type", f"{path}[{i}].type"),
                    score=self.required_text(item, "score", f"{path}[{i}].score"),
                )
            )
        return tuple(entries)

    def references(self, data: dict[str, Any]) -> tuple[str, ...]:
        return tuple(
            self.required_text(item, "url", f"references[{i}].url")
            for i, item in enumerate(self.objects(data, "references", "references"))
        )

    # Primitive readers. A missing key or a JSON null reads as "absent".

    def timestamp(self, data: dict[str, Any], key: str, path: str) -> datetime | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(path, f"must be an RFC 3339 timestamp, not {_kind(value)}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(path, f"is not an RFC 3339 timestamp: {value!r}") from None
        # The schema requires UTC ("Z"); a timestamp without an offset is read as UTC.
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

    def text(self, data: dict[str, Any], key: str, path: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(path, f"must be a string, not {_kind(value)}")
        return value

    def required_text(self, data: dict[str, Any], key: str, path: str) -> str:
        value = self.text(data, key, path)
        if not value:
            raise self.fail(path, "is required (a non-empty string)")
        return value

    def strings(self, data: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(path, "must be a list of strings")
        return tuple(value)

    def objects(self, data: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list, not {_kind(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail(f"{path}[{i}]", f"must be an object, not {_kind(item)}")
        return value

    def mapping(self, data: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, f"must be an object, not {_kind(value)}")
        return value


def _kind(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
