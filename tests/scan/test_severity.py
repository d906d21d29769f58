"""Severity of a vulnerability: which source wins, CVSS bands, and where it came from."""

from __future__ import annotations

from typing import Any

import pytest

from cargohold.scan.osv import OsvRecord, parse_record
from cargohold.scan.severity import base_score, level_for_score, severity_for
from tests.scan.osv_data import raw, record

V2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # 7.5
V3 = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"  # 6.1
V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (10.0, "CRITICAL"),
        (9.0, "CRITICAL"),
        (8.9, "HIGH"),
        (7.0, "HIGH"),
        (6.9, "MEDIUM"),
        (4.0, "MEDIUM"),
        (3.9, "LOW"),
        (0.1, "LOW"),
        (0.0, "UNKNOWN"),
    ],
)
def test_bands(score: float, level: str) -> None:
    assert level_for_score(score) == level


def _with(record_id: str, **changes: Any) -> OsvRecord:
    data = raw(record_id)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return parse_record(data)


def test_ghsa_cvss_vector_is_scored() -> None:
    ghsa = record("GHSA-j8r2-6x86-5jq8")
    severity = severity_for(ghsa, ghsa.affected[0])
    assert (severity.level, severity.score) == ("MEDIUM", 6.1)
    assert severity.source == "GHSA-j8r2-6x86-5jq8 severity CVSS_V3"


def test_critical_log4j() -> None:
    ghsa = record("GHSA-jfh8-c2jp-5v3q")
    severity = severity_for(ghsa, ghsa.affected[1])
    assert (severity.level, severity.score) == ("CRITICAL", 10.0)


def test_v4_before_v3_before_v2_whatever_the_list_order() -> None:
    entries = [
        {"type": "CVSS_V2", "score": V2},
        {"type": "CVSS_V3", "score": V3},
        {"type": "CVSS_V4", "score": V4},
    ]
    ghsa = _with("GHSA-j8r2-6x86-5jq8", severity=entries)
    assert severity_for(ghsa, ghsa.affected[0]).score == 9.3
    assert severity_for(ghsa, ghsa.affected[0]).source.endswith("severity CVSS_V4")
    ghsa = _with("GHSA-j8r2-6x86-5jq8", severity=entries[:2])
    assert severity_for(ghsa, ghsa.affected[0]).score == 6.1
    ghsa = _with("GHSA-j8r2-6x86-5jq8", severity=entries[:1])
    assert (severity_for(ghsa, ghsa.affected[0]).level, ghsa.severity[0].type) == (
        "HIGH",
        "CVSS_V2",
    )


def test_a_bad_vector_is_skipped_for_the_next_source() -> None:
    ghsa = _with("GHSA-j8r2-6x86-5jq8", severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}])
    severity = severity_for(ghsa, ghsa.affected[0])
    # database_specific.severity "MODERATE" is the next source.
    assert (severity.level, severity.score) == ("MEDIUM", None)
    assert severity.source == "GHSA-j8r2-6x86-5jq8 database_specific.severity MODERATE"
    assert base_score(ghsa.severity[0]) is None


def test_the_package_severity_comes_before_the_record_severity() -> None:
    data = raw("GHSA-j8r2-6x86-5jq8")
    data["affected"][0]["severity"] = [{"type": "CVSS_V3", "score": data["severity"][0]["score"]}]
    data["severity"] = [{"type": "CVSS_V4", "score": V4}]
    ghsa = parse_record(data)
    severity = severity_for(ghsa, ghsa.affected[0])
    assert severity.score == 6.1
    assert severity.source == "GHSA-j8r2-6x86-5jq8 affected[0].severity CVSS_V3"


def test_ubuntu_prefers_cvss_then_its_priority() -> None:
    ubuntu = record("UBUNTU-CVE-2023-4911")
    assert severity_for(ubuntu, ubuntu.affected[0]).score == 7.8
    priority_only = _with(
        "UBUNTU-CVE-2023-4911", severity=[{"type": "Ubuntu", "score": "negligible"}]
    )
    severity = severity_for(priority_only, priority_only.affected[0])
    assert (severity.level, severity.score) == ("LOW", None)
    assert severity.source == "UBUNTU-CVE-2023-4911 severity Ubuntu priority negligible"
    untriaged = _with("UBUNTU-CVE-2023-4911", severity=[{"type": "Ubuntu", "score": "untriaged"}])
    assert severity_for(untriaged, untriaged.affected[0]).level == "UNKNOWN"


def test_debian_record_takes_the_severity_of_its_upstream_cve() -> None:
    debian = record("DEBIAN-CVE-2023-4911")
    assert severity_for(debian, debian.affected[0]).level == "UNKNOWN"  # nothing of its own
    cve = record("CVE-2023-4911")
    lookup = {cve.id: cve}.get
    severity = severity_for(debian, debian.affected[0], lookup)
    assert (severity.level, severity.score) == ("HIGH", 7.8)
    assert severity.source == "CVE-2023-4911 severity CVSS_V3 (upstream)"


def test_go_record_takes_the_severity_of_its_ghsa_alias() -> None:
    go = record("GO-2023-2102")
    ghsa = record("GHSA-4374-p667-p6c8")
    severity = severity_for(go, go.affected[0], {ghsa.id: ghsa}.get)
    assert (severity.level, severity.score) == ("HIGH", 7.5)
    assert severity.source == "GHSA-4374-p667-p6c8 severity CVSS_V3 (alias)"


def test_related_ids_can_be_narrowed() -> None:
    dsa = record("DSA-5514-1")
    cve = record("CVE-2023-4911")
    lookup = {cve.id: cve}.get
    assert severity_for(dsa, dsa.affected[0], lookup).level == "HIGH"
    assert severity_for(dsa, dsa.affected[0], lookup, ["CVE-2023-4806"]).level == "UNKNOWN"


def test_words_in_ecosystem_specific() -> None:
    data = raw("DEBIAN-CVE-2023-4911")
    data["affected"][0]["ecosystem_specific"] = {"urgency": "high"}
    debian = parse_record(data)
    severity = severity_for(debian, debian.affected[0])
    assert severity.level == "HIGH"
    assert severity.source == "DEBIAN-CVE-2023-4911 affected[0].ecosystem_specific.urgency high"
    data["affected"][0]["ecosystem_specific"] = {"urgency": "not yet assigned"}
    assert severity_for(parse_record(data), parse_record(data).affected[0]).level == "UNKNOWN"


def test_unknown_when_nobody_says() -> None:
    alpine = record("ALPINE-CVE-2024-0727")
    severity = severity_for(alpine, alpine.affected[0], lambda _id: None)
    assert severity.level == "UNKNOWN" and severity.score is None
