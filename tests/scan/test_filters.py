"""Trivy-compatible filters and gates: --severity, --ignore-unfixed, ignore files, --exit-code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cargohold.scan.filters import (
    IgnorefileError,
    IgnoreRules,
    ScanFilter,
    apply_filter,
    exit_status,
    load_ignorefile,
    parse_severities,
)
from cargohold.scan.findings import Finding, PlatformResult, ScanResult, Severity
from cargohold.scan.model import (
    OS_PACKAGES_NOT_INVENTORIED,
    UNREADABLE_FILE,
    Inventory,
    LayerRef,
    Package,
    Problem,
)

TODAY = dt.date(2024, 6, 15)
LAYER = LayerRef(0, "sha256:" + "1" * 64)
OPENSSL = Package(
    "deb",
    "libssl3",
    "3.0.11-1~deb12u2",
    "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
    LAYER,
    "var/lib/dpkg/status",
    "openssl",
    "3.0.11-1~deb12u2",
    "amd64",
)
REQUESTS = Package(
    "pypi",
    "requests",
    "2.28.1",
    "pkg:pypi/requests@2.28.1",
    LAYER,
    "app/venv/lib/python3.11/site-packages/requests-2.28.1.dist-info/METADATA",
)


def finding(
    cve: str,
    level: str,
    package: Package = OPENSSL,
    fixed: str | None = "9.9",
    record: str = "DSA-0000-1",
    aliases: tuple[str, ...] = (),
) -> Finding:
    return Finding(
        id=cve,
        record_id=record,
        aliases=aliases,
        package=package,
        installed_version=package.version,
        fixed_version=fixed,
        severity=Severity(level),
    )


FINDINGS = [
    finding("CVE-2023-0001", "CRITICAL"),
    finding("CVE-2023-0002", "HIGH", fixed=None),
    finding(
        "CVE-2023-0003", "MEDIUM", REQUESTS, record="GHSA-aaaa-bbbb-cccc", aliases=("PYSEC-1",)
    ),
    finding("CVE-2023-0004", "LOW"),
    finding("CVE-2023-0005", "UNKNOWN", REQUESTS, fixed=None),
]


def result(findings: list[Finding], problems: list[Problem] | None = None) -> ScanResult:
    inventory = Inventory(
        "sha256:" + "2" * 64, None, None, [LAYER], [OPENSSL, REQUESTS], problems or []
    )
    return ScanResult("oci:img", [PlatformResult(inventory, list(findings))], "7-abc")


def ids(scan: ScanResult) -> list[str]:
    return [f.id for p in scan.platforms for f in p.findings]


def test_parse_severities_accepts_trivy_lists_in_any_case() -> None:
    assert parse_severities("CRITICAL,HIGH") == {"CRITICAL", "HIGH"}
    assert parse_severities("critical, high") == {"CRITICAL", "HIGH"}
    with pytest.raises(ValueError, match="SEVERE"):
        parse_severities("HIGH,SEVERE")
    with pytest.raises(ValueError):
        parse_severities(",")


def test_severity_is_a_set_that_filters_what_is_shown() -> None:
    kept = apply_filter(result(FINDINGS), ScanFilter(frozenset({"CRITICAL", "LOW"})), TODAY)
    assert ids(kept) == ["CVE-2023-0001", "CVE-2023-0004"]


def test_default_filter_keeps_everything_and_does_not_touch_the_input() -> None:
    original = result(FINDINGS)
    kept = apply_filter(original, ScanFilter(), TODAY)
    assert ids(kept) == ids(original) == [f.id for f in FINDINGS]
    narrowed = apply_filter(original, ScanFilter(frozenset({"HIGH"})), TODAY)
    assert ids(narrowed) == ["CVE-2023-0002"]
    assert len(original.platforms[0].findings) == 5
    assert narrowed.platforms[0].inventory is original.platforms[0].inventory
    assert (narrowed.target, narrowed.db_version) == ("oci:img", "7-abc")


def test_ignore_unfixed_drops_findings_without_a_fixed_version() -> None:
    kept = apply_filter(result(FINDINGS), ScanFilter(ignore_unfixed=True), TODAY)
    assert ids(kept) == ["CVE-2023-0001", "CVE-2023-0003", "CVE-2023-0004"]


def test_trivyignore_ids_comments_and_expiry(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore"
    path.write_text(
        "# accepted risks\n"
        "\n"
        "CVE-2023-0001    # no exploit path: openssl DH is unused\n"
        "GHSA-aaaa-bbbb-cccc exp:2024-07-01\n"
        "CVE-2023-0004 exp:2024-06-01  # expired: must show again\n"
        "  CVE-2023-0005 exp:2024-06-15\n"
    )
    rules = load_ignorefile(path)
    kept = apply_filter(result(FINDINGS), ScanFilter(ignore=rules), TODAY)
    # 0001 by CVE, 0003 by its record ID until July; 0004 expired; 0005 expires today.
    assert ids(kept) == ["CVE-2023-0002", "CVE-2023-0004", "CVE-2023-0005"]
    after_july = apply_filter(result(FINDINGS), ScanFilter(ignore=rules), dt.date(2024, 7, 1))
    assert "CVE-2023-0003" in ids(after_july)


def test_an_ignored_alias_matches_the_finding(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore"
    path.write_text("PYSEC-1\n")
    kept = apply_filter(result(FINDINGS), ScanFilter(ignore=load_ignorefile(path)), TODAY)
    assert "CVE-2023-0003" not in ids(kept)
    assert len(ids(kept)) == 4


def test_trivyignore_with_a_bad_date_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore"
    path.write_text("CVE-1\nCVE-2 exp:2024-13-01\n")
    with pytest.raises(IgnorefileError, match=r"\.trivyignore:2: invalid expiry date '2024-13-01'"):
        load_ignorefile(path)


def test_missing_ignorefile_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IgnorefileError, match="does not exist"):
        load_ignorefile(tmp_path / "absent")


def test_trivyignore_yaml_ids_paths_purls_and_expiry(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore.yaml"
    path.write_text(
        """
vulnerabilities:
  - id: CVE-2023-0001
    statement: openssl DH is unused
    purls:
      - pkg:deb/debian/libssl3           # any version of libssl3
  - id: CVE-2023-0003
    paths:
      - "app/venv/**/requests-*.dist-info/METADATA"
    expired_at: 2024-07-01
  - id: CVE-2023-0004
    purls: ["pkg:pypi/requests"]        # names another package: does not apply
  - id: CVE-2023-0005
    expired_at: 2024-01-01              # expired
misconfigurations:
  - id: AVD-DS-0002
"""
    )
    rules = load_ignorefile(path)
    assert rules.rules[0].statement == "openssl DH is unused"
    kept = apply_filter(result(FINDINGS), ScanFilter(ignore=rules), TODAY)
    assert ids(kept) == ["CVE-2023-0002", "CVE-2023-0004", "CVE-2023-0005"]


def test_yaml_path_and_purl_conditions_must_match(tmp_path: Path) -> None:
    path = tmp_path / "ignore.yml"
    path.write_text(
        "vulnerabilities:\n"
        "  - id: CVE-2023-0003\n"
        "    paths: [usr/lib/other/**]\n"
        "  - id: CVE-2023-0001\n"
        "    purls: ['pkg:deb/debian/libssl3@1.0.0']\n"
        "  - id: CVE-2023-0004\n"
        "    purls: ['pkg:deb/debian/libssl3?arch=amd64']\n"
    )
    kept = apply_filter(result(FINDINGS), ScanFilter(ignore=load_ignorefile(path)), TODAY)
    # A qualifier the package has matches; another path or version does not.
    assert ids(kept) == ["CVE-2023-0001", "CVE-2023-0002", "CVE-2023-0003", "CVE-2023-0005"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("vulnerabilities: [\n", "ignore.yaml:"),
        ("vulnerabilities:\n  - statement: no id\n", r"vulnerabilities\[0\]: 'id'"),
        ("vulnerabilities:\n  - id: CVE-1\n    expired_at: soon\n", "invalid expiry date"),
        ("vulnerabilities:\n  - id: CVE-1\n    purls: ['not a purl']\n", "invalid purl"),
        ("- CVE-1\n", "expected a mapping"),
    ],
)
def test_malformed_yaml_ignorefile_is_a_one_line_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text(content)
    with pytest.raises(IgnorefileError, match=message) as info:
        load_ignorefile(path)
    assert "\n" not in str(info.value)


def test_exit_code_is_returned_when_a_finding_survives() -> None:
    scan = result(FINDINGS)
    assert exit_status(scan, 0) == 0  # warn-only
    assert exit_status(scan, 1) == 1
    assert exit_status(scan, 7) == 7
    only_critical = apply_filter(result(FINDINGS[1:]), ScanFilter(frozenset({"CRITICAL"})), TODAY)
    assert ids(only_critical) == []
    assert exit_status(only_critical, 1) == 0


def test_ignored_findings_do_not_fail_the_gate(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore"
    path.write_text("CVE-2023-0001\n")
    gate = ScanFilter(frozenset({"CRITICAL"}), ignore=load_ignorefile(path))
    assert exit_status(apply_filter(result(FINDINGS), gate, TODAY), 1) == 0
    path.write_text("CVE-2023-0001 exp:2024-06-01\n")
    gate = ScanFilter(frozenset({"CRITICAL"}), ignore=load_ignorefile(path))
    assert exit_status(apply_filter(result(FINDINGS), gate, TODAY), 1) == 1


def test_blocking_problem_fails_the_gate_whatever_the_severity_filter() -> None:
    blocking = Problem(OS_PACKAGES_NOT_INVENTORIED, "rpmdb is BerkeleyDB", "var/lib/rpm/Packages")
    scan = apply_filter(result([], [blocking]), ScanFilter(frozenset({"CRITICAL"})), TODAY)
    assert exit_status(scan, 1) == 1
    assert exit_status(scan, 3) == 3
    assert exit_status(scan, 0) == 0
    harmless = Problem(UNREADABLE_FILE, "python: bad METADATA", "x/METADATA")
    assert exit_status(result([], [harmless]), 1) == 0


def test_empty_ignore_rules_ignore_nothing() -> None:
    assert not IgnoreRules().ignores(FINDINGS[0], TODAY)
