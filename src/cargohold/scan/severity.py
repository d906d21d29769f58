"""The severity of a vulnerability for a package, and where it came from.

The order (issue 3): the matched package's own `affected[].severity`; the record's
`severity`; the words in `database_specific`/`ecosystem_specific`; then the same fields
of the records named in `aliases` and `upstream` (a Debian record usually carries no
severity of its own, but the CVE record it names does). Otherwise UNKNOWN.
Within one severity list CVSS v4 is preferred to v3, v3 to v2, and all of them to an
Ubuntu priority. CVSS base scores are computed by the `cvss` library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from cargohold.scan.findings import Severity
from cargohold.scan.osv import AffectedPackage, OsvRecord, SeverityEntry

UNKNOWN = Severity("UNKNOWN")

# Preference within one severity list, best first.
_TYPE_ORDER = ("CVSS_V4", "CVSS_V3", "CVSS_V2", "Ubuntu")

# Words databases use for a level (GHSA's database_specific.severity, Debian's urgency,
# Ubuntu priorities, Red Hat/SUSE ratings), lower-cased. Words that say "not assessed"
# (untriaged, "not yet assigned", end-of-life) are absent, so the search goes on.
_WORDS = {
    "critical": "CRITICAL",
    "important": "HIGH",
    "high": "HIGH",
    "moderate": "MEDIUM",
    "medium": "MEDIUM",
    "low": "LOW",
    "negligible": "LOW",
    "unimportant": "LOW",
}

# Keys of database_specific / ecosystem_specific that hold a severity word.
_WORD_KEYS = ("severity", "urgency")


def level_for_score(score: float) -> str:
    """The band of a CVSS base score: 9.0 CRITICAL, 7.0 HIGH, 4.0 MEDIUM, 0.1 LOW."""
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score >= 0.1:
        return "LOW"
    return "UNKNOWN"


def base_score(entry: SeverityEntry) -> float | None:
    """The CVSS base score of a CVSS_V2/V3/V4 entry; None for other types or bad vectors."""
    try:
        if entry.type == "CVSS_V4":
            return float(CVSS4(entry.score).base_score)
        if entry.type == "CVSS_V3":
            return float(CVSS3(entry.score).scores()[0])
        if entry.type == "CVSS_V2":
            return float(CVSS2(entry.score).scores()[0])
    except (CVSSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return None


def from_entries(entries: Iterable[SeverityEntry], where: str) -> Severity | None:
    """The best usable entry of one severity list, or None if none gives a level."""
    ranked = sorted(
        (e for e in entries if e.type in _TYPE_ORDER), key=lambda e: _TYPE_ORDER.index(e.type)
    )
    for entry in ranked:
        if entry.type == "Ubuntu":
            level = _WORDS.get(entry.score.strip().lower())
            if level is not None:
                return Severity(level, None, f"{where} Ubuntu priority {entry.score}")
            continue
        score = base_score(entry)
        if score is not None and (level := level_for_score(score)) != "UNKNOWN":
            return Severity(level, score, f"{where} {entry.type}")
    return None


def from_words(fields: Mapping[str, Any], where: str) -> Severity | None:
    """A level named in a database_specific or ecosystem_specific object."""
    for key in _WORD_KEYS:
        value = fields.get(key)
        if isinstance(value, str) and (level := _WORDS.get(value.strip().lower())):
            return Severity(level, None, f"{where}.{key} {value}")
    return None


def own_severity(record: OsvRecord, affected: AffectedPackage | None = None) -> Severity | None:
    """The severity a record gives by itself, or None.

    With `affected` (the matched package's entry) its own severity list and words come
    first; without it (a related record such as the CVE a Debian record names) the
    record's severity, then any of its packages' severity lists, then its words.
    """
    if affected is not None:
        where = f"{record.id} affected[{_index(record, affected)}]"
        return (
            from_entries(affected.severity, f"{where}.severity")
            or from_entries(record.severity, f"{record.id} severity")
            or from_words(affected.database_specific, f"{where}.database_specific")
            or from_words(affected.ecosystem_specific, f"{where}.ecosystem_specific")
            or from_words(record.database_specific, f"{record.id} database_specific")
        )
    found = from_entries(record.severity, f"{record.id} severity")
    for i, package in enumerate(record.affected):
        found = found or from_entries(package.severity, f"{record.id} affected[{i}].severity")
    return found or from_words(record.database_specific, f"{record.id} database_specific")


def severity_for(
    record: OsvRecord,
    affected: AffectedPackage | None = None,
    lookup: Callable[[str], OsvRecord | None] | None = None,
    related_ids: Iterable[str] | None = None,
) -> Severity:
    """The severity of `record` for the package of `affected`, UNKNOWN if nobody says.

    `lookup` finds an imported record by its id; `related_ids` are the ids to consult
    when the record gives no severity itself, by default its aliases then its upstream.
    """
    if (severity := own_severity(record, affected)) is not None:
        return severity
    if lookup is None:
        return UNKNOWN
    if related_ids is None:
        related_ids = (*record.aliases, *record.upstream)
    for related_id in related_ids:
        related = lookup(related_id)
        if related is None or related.id == record.id:
            continue
        if (severity := own_severity(related)) is not None:
            how = "upstream" if related_id in record.upstream else "alias"
            return Severity(severity.level, severity.score, f"{severity.source} ({how})")
    return UNKNOWN


def _index(record: OsvRecord, affected: AffectedPackage | None) -> int:
    for i, candidate in enumerate(record.affected):
        if candidate is affected:
            return i
    for i, candidate in enumerate(record.affected):
        if candidate == affected:
            return i
    return 0
