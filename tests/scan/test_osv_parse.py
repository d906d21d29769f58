"""Reading OSV records: the real advisories parse, malformed ones fail with one clear line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cargohold.scan.errors import InvalidRecord, ScanError
from cargohold.scan.osv import (
    Event,
    OsvRecord,
    Range,
    SeverityEntry,
    ecosystem_base,
    normalize_name,
    parse_record,
)
from tests.scan.osv_data import OSV_DATA, all_records, raw, record


def test_every_stored_record_parses_and_is_named_by_its_id() -> None:
    records = all_records()
    assert len(records) == len(list(OSV_DATA.glob("*.json")))
    for parsed in records:
        assert (OSV_DATA / f"{parsed.id}.json").exists()
        assert parsed.modified.tzinfo is not None


def test_debian_advisory_fields() -> None:
    dsa = record("DSA-5514-1")
    assert dsa.modified == datetime(2025, 7, 22, 3, 44, 25, tzinfo=UTC)
    assert dsa.published == datetime(2023, 10, 3, tzinfo=UTC)
    assert dsa.withdrawn is None
    assert dsa.upstream == ("CVE-2023-4806", "CVE-2023-4911")
    assert dsa.aliases == ()
    assert dsa.summary == "glibc - security update"
    assert dsa.references == ("https://www.debian.org/security/2023/dsa-5514",)
    (affected,) = dsa.affected
    assert (affected.ecosystem, affected.name) == ("Debian:12", "glibc")
    assert affected.purl == "pkg:deb/debian/glibc?arch=source"
    assert affected.ranges == (
        Range("ECOSYSTEM", (Event("introduced", "0"), Event("fixed", "2.36-9+deb12u3"))),
    )
    assert affected.database_specific["source"].endswith("DSA-5514-1.json")


def test_ghsa_fields_severity_and_database_specific() -> None:
    ghsa = record("GHSA-j8r2-6x86-5jq8")
    assert ghsa.aliases == ("CVE-2023-32681", "PYSEC-2023-74")
    assert ghsa.severity == (
        SeverityEntry("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"),
    )
    assert ghsa.database_specific["severity"] == "MODERATE"
    assert ghsa.affected[0].ranges[0].events[-1] == Event("fixed", "2.31.0")


def test_git_ranges_keep_their_repo_and_versions_lists_are_read() -> None:
    pysec = record("PYSEC-2023-74")
    git, ecosystem = pysec.affected[0].ranges
    assert git.type == "GIT" and git.repo == "https://github.com/psf/requests"
    assert ecosystem.type == "ECOSYSTEM" and ecosystem.repo is None
    assert pysec.affected[0].versions[0] == "2.3.0"
    assert "2.30.0" in pysec.affected[0].versions and "2.31.0" not in pysec.affected[0].versions


def test_last_affected_and_ecosystem_specific() -> None:
    py = record("GHSA-w596-4wvx-j9j6")
    assert py.affected[0].ranges[0].events == (
        Event("introduced", "0"),
        Event("last_affected", "1.11.0"),
    )
    go = record("GO-2023-2102")
    assert go.affected[0].ecosystem_specific["imports"][0]["path"] == "net/http"
    assert go.affected[0].purl is None


def test_affected_entry_without_package_is_kept_with_empty_names() -> None:
    data = raw("CVE-2023-4911")
    data["affected"] = [
        {"ranges": [{"type": "GIT", "repo": "https://sourceware.org/git/glibc.git",
                     "events": [{"introduced": "0"}]}]}
    ]  # fmt: skip
    (affected,) = parse_record(data).affected
    assert (affected.ecosystem, affected.name) == ("", "")


def test_withdrawn_timestamp_and_unknown_fields() -> None:
    data = raw("GHSA-35jh-r3h4-6jhm")
    data["withdrawn"] = "2024-01-02T03:04:05.123456789Z"
    data["credits"] = [{"name": "someone"}]
    parsed = parse_record(data)
    assert parsed.withdrawn == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_records_are_frozen_and_hashable() -> None:
    parsed = record("GHSA-xvch-5gv4-984h")
    with pytest.raises(AttributeError):
        parsed.id = "x"  # type: ignore[misc]
    assert parsed == record("GHSA-xvch-5gv4-984h")
    assert len({parsed, record("GHSA-xvch-5gv4-984h")}) == 1
    assert isinstance(parsed, OsvRecord)


def _broken(change: Any) -> dict[str, Any]:
    data = raw("GHSA-j8r2-6x86-5jq8")
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("modified"), "modified"),
        (lambda d: d.update(modified="yesterday"), "modified"),
        (lambda d: d.update(published=20230522), "published"),
        (lambda d: d.update(aliases="CVE-2023-32681"), "aliases"),
        (lambda d: d.update(summary=["a"]), "summary"),
        (lambda d: d.update(severity=[{"type": "CVSS_V3"}]), "severity[0].score"),
        (lambda d: d.update(affected={"package": {}}), "affected"),
        (lambda d: d["affected"][0]["package"].pop("name"), "affected[0].package.name"),
        (
            lambda d: d["affected"][0]["ranges"][0].update(type="RANGE"),
            "affected[0].ranges[0].type",
        ),
        (lambda d: d["affected"][0]["ranges"][0].update(events=[]), "affected[0].ranges[0].events"),
        (
            lambda d: d["affected"][0]["ranges"][0]["events"].append({"fixed": "1", "limit": "2"}),
            "affected[0].ranges[0].events[2]",
        ),
        (
            lambda d: d["affected"][0]["ranges"][0]["events"].append({"fixd": "1"}),
            "affected[0].ranges[0].events[2]",
        ),
        (
            lambda d: d["affected"][0]["ranges"][0]["events"].append({"fixed": 2.31}),
            "affected[0].ranges[0].events[2].fixed",
        ),
        (lambda d: d["affected"][0].update(versions=[1, 2]), "affected[0].versions"),
        (lambda d: d["affected"][0].update(database_specific=[]), "affected[0].database_specific"),
        (lambda d: d.update(references=[{"type": "WEB"}]), "references[0].url"),
        (lambda d: d.update(database_specific="x"), "database_specific"),
    ],
)
def test_malformed_records_name_the_record_and_the_field(change: Any, field: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        parse_record(_broken(change))
    message = str(caught.value)
    assert message.startswith(f"OSV record GHSA-j8r2-6x86-5jq8: {field} ")
    assert "\n" not in message


@pytest.mark.parametrize("data", [[], "x", None, {"modified": "2024-01-01T00:00:00Z"}, {"id": ""}])
def test_not_a_record_at_all(data: Any) -> None:
    with pytest.raises(InvalidRecord) as caught:
        parse_record(data)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ScanError)


@pytest.mark.parametrize(
    ("ecosystem", "base"),
    [
        ("Debian:12", "Debian"),
        ("Ubuntu:22.04:LTS", "Ubuntu"),
        ("Ubuntu:Pro:18.04:LTS", "Ubuntu"),
        ("Alpine:v3.19", "Alpine"),
        ("Red Hat:enterprise_linux:9::baseos", "Red Hat"),
        ("Maven:https://maven.google.com", "Maven"),
        ("PyPI", "PyPI"),
        ("", ""),
    ],
)
def test_ecosystem_base(ecosystem: str, base: str) -> None:
    assert ecosystem_base(ecosystem) == base


@pytest.mark.parametrize(
    ("ecosystem", "name", "normal"),
    [
        ("PyPI", "Typing_Extensions", "typing-extensions"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("PyPI", "requests", "requests"),
        ("npm", "@Babel/Core", "@Babel/Core"),
        ("Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"),
        ("Debian:12", "glibc", "glibc"),
        ("Alpine:v3.19", "py3-Pip", "py3-Pip"),
        ("NuGet", "Newtonsoft.Json", "newtonsoft.json"),
        ("Packagist", "Symfony/Http-Kernel", "symfony/http-kernel"),
        ("npm", "JSONStream", "JSONStream"),
        ("crates.io", "Inflector", "Inflector"),
    ],
)
def test_normalize_name(ecosystem: str, name: str, normal: str) -> None:
    assert normalize_name(ecosystem, name) == normal
