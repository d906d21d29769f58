"""Report writers: each format's structure and content, from a hand-built scan result."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from cargohold import __version__
from cargohold.scan.findings import Finding, PlatformResult, ScanResult, Severity
from cargohold.scan.model import (
    OS_PACKAGES_NOT_INVENTORIED,
    UNREADABLE_FILE,
    Inventory,
    LayerRef,
    OSInfo,
    Package,
    Platform,
    Problem,
)
from cargohold.scan.report import WRITERS, sarif, table

BASE = LayerRef(0, "sha256:" + "a" * 64)
APP = LayerRef(1, "sha256:" + "b" * 64)
DEBIAN = OSInfo("debian", "12", "Debian GNU/Linux", "Debian GNU/Linux 12 (bookworm)", "bookworm")
STATUS = "var/lib/dpkg/status"


def deb(name: str, version: str, source: str) -> Package:
    qualifiers = {"arch": "amd64", "distro": "debian-12"}
    purl = PackageURL("deb", "debian", name, version, qualifiers).to_string()
    return Package("deb", name, version, purl, BASE, STATUS, source, version, "amd64")


LIBSSL = deb("libssl3", "3.0.11-1~deb12u2", "openssl")
OPENSSL = deb("openssl", "3.0.11-1~deb12u2", "openssl")
CURL = deb("curl", "7.88.1-10+deb12u4", "curl")
REQUESTS = Package(
    "pypi",
    "requests",
    "2.28.1",
    "pkg:pypi/requests@2.28.1",
    APP,
    "app/lib/python3.11/site-packages/requests-2.28.1.dist-info/METADATA",
)
# The same npm package twice in one image: one SBOM component, two locations.
LODASH_A = Package(
    "npm",
    "lodash",
    "4.17.20",
    "pkg:npm/lodash@4.17.20",
    APP,
    "app/node_modules/lodash/package.json",
)
LODASH_B = Package(
    "npm",
    "lodash",
    "4.17.20",
    "pkg:npm/lodash@4.17.20",
    APP,
    "app/node_modules/x/node_modules/lodash/package.json",
)


def finding(
    cve: str,
    record: str,
    package: Package,
    severity: Severity,
    fixed: str | None,
    summary: str | None = None,
    aliases: tuple[str, ...] = (),
    references: tuple[str, ...] = (),
) -> Finding:
    ecosystem = "Debian:12" if package.type == "deb" else package.type
    return Finding(
        cve,
        record,
        aliases,
        package,
        package.source_version or package.version,
        fixed,
        severity,
        summary,
        references,
        ecosystem,
    )


CVSS3 = "{} severity CVSS_V3 (upstream)".format
FINDINGS = [
    finding(
        "CVE-2023-5678",
        "DSA-5585-1",
        LIBSSL,
        Severity("MEDIUM", 5.3, CVSS3("CVE-2023-5678")),
        "3.0.13-1~deb12u1",
        "openssl: Excessive time spent in DH check / generation with large Q parameter value",
        references=("https://security-tracker.debian.org/tracker/CVE-2023-5678",),
    ),
    finding(  # the same CVE in a second binary package of the same source
        "CVE-2023-5678",
        "DSA-5585-1",
        OPENSSL,
        Severity("MEDIUM", 5.3, CVSS3("CVE-2023-5678")),
        "3.0.13-1~deb12u1",
        "openssl: Excessive time spent in DH check / generation with large Q parameter value",
    ),
    finding(
        "CVE-2023-38545",
        "DSA-5510-1",
        CURL,
        Severity("CRITICAL", 9.8, CVSS3("CVE-2023-38545")),
        "7.88.1-10+deb12u5",
        "SOCKS5 heap buffer overflow",
    ),
    finding(
        "CVE-2023-32681",
        "GHSA-j8r2-6x86-q33q",
        REQUESTS,
        Severity("MEDIUM", 6.1, "GHSA-j8r2-6x86-q33q severity CVSS_V3"),
        "2.31.0",
        "Unintended leak of Proxy-Authorization header in requests",
        aliases=("PYSEC-2023-74",),
        references=("https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q",),
    ),
    finding(
        "CVE-2021-23337",
        "GHSA-35jh-r3h4-6jhm",
        LODASH_A,
        Severity("HIGH", None, "GHSA-35jh-r3h4-6jhm database_specific.severity"),
        "4.17.21",
        "Command Injection in lodash",
    ),
    finding("CVE-2024-0001", "DSA-0001-1", CURL, Severity("LOW", 3.1, CVSS3("x")), None),
    finding("TEMP-0290435-0B57B5", "DEBIAN-TEMP-1", CURL, Severity("UNKNOWN"), None),
]
AMD64 = Inventory(
    "sha256:" + "c" * 64,
    Platform("linux", "amd64"),
    DEBIAN,
    [BASE, APP],
    [CURL, LIBSSL, OPENSSL, LODASH_A, LODASH_B, REQUESTS],
    [Problem(UNREADABLE_FILE, "python: METADATA is not valid", "app/broken.dist-info/METADATA")],
)
ARM64 = Inventory(
    "sha256:" + "d" * 64,
    Platform("linux", "arm64", "v8"),
    OSInfo("rhel", "9.3", pretty_name="Red Hat Enterprise Linux 9.3 (Plow)"),
    [BASE],
    [],
    [
        Problem(
            OS_PACKAGES_NOT_INVENTORIED,
            "rpm: the rpmdb is in BerkeleyDB format",
            "var/lib/rpm/Packages",
        )
    ],
)
RESULT = ScanResult(
    "oci:./app:1.0",
    [PlatformResult(AMD64, list(FINDINGS)), PlatformResult(ARM64, [])],
    "42-9f3c",
)
ALL_PURLS = {p.purl for p in AMD64.packages + ARM64.packages}


def render(name: str, result: ScanResult = RESULT) -> str:
    stream = io.StringIO()
    WRITERS[name](result, stream)
    return stream.getvalue()


def render_json(name: str, result: ScanResult = RESULT) -> Any:
    return json.loads(render(name, result))


# ---- table -------------------------------------------------------------------------


def test_table_lists_findings_worst_first_with_totals_and_warnings() -> None:
    text = render("table")
    assert "\x1b[" not in text  # no colour codes when the stream is not a terminal
    assert "oci:./app:1.0 (linux/amd64)" in text
    assert "OS: Debian GNU/Linux 12 (bookworm); 6 packages" in text
    assert "Total: 7 (CRITICAL: 1, HIGH: 1, MEDIUM: 3, LOW: 1, UNKNOWN: 1)" in text
    order = [text.index(vid) for vid in ("CVE-2023-38545", "CVE-2021-23337", "CVE-2023-32681")]
    order += [text.index(vid) for vid in ("CVE-2023-5678", "CVE-2024-0001", "TEMP-0290435-0B57B5")]
    assert order == sorted(order)
    for column in ("Library", "Vulnerability", "Severity", "Installed", "Fixed", "Title"):
        assert column in text
    assert "SOCKS5 heap buffer overflow" in text
    assert "7.88.1-10+deb12u5" in text
    # The platform whose OS packages could not be read says so; the other one warns too.
    assert "oci:./app:1.0 (linux/arm64/v8)" in text
    assert "WARNING: os-packages-not-inventoried: rpm: the rpmdb is in BerkeleyDB format" in text
    assert "--exit-code gates fail on this image" in text
    assert "WARNING: unreadable-file: python: METADATA is not valid" in text


def test_table_total_counts_only_the_selected_severities() -> None:
    stream = io.StringIO()
    kept = [f for f in FINDINGS if f.severity.level in ("CRITICAL", "HIGH")]
    table.write(
        ScanResult("img", [PlatformResult(AMD64, kept)]), stream, severities={"HIGH", "CRITICAL"}
    )
    assert "Total: 2 (CRITICAL: 1, HIGH: 1)\n" in stream.getvalue()


def test_table_of_a_clean_image_has_a_zero_total_and_no_table() -> None:
    text = render("table", ScanResult("img", [PlatformResult(AMD64, [])]))
    assert "Total: 0 (CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0)" in text
    assert "Library" not in text


# ---- JSON --------------------------------------------------------------------------


def test_json_round_trips_every_finding() -> None:
    document = render_json("json")
    assert document["schemaVersion"] == 1
    assert (document["target"], document["dbVersion"]) == ("oci:./app:1.0", "42-9f3c")
    amd64, arm64 = document["results"]
    assert (amd64["platform"], amd64["digest"], amd64["packageCount"]) == (
        "linux/amd64",
        AMD64.digest,
        6,
    )
    assert amd64["os"] == {
        "family": "debian",
        "version": "12",
        "name": "Debian GNU/Linux 12 (bookworm)",
    }
    assert amd64["summary"] == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 3, "LOW": 1, "UNKNOWN": 1}
    packages = {(p.purl, p.location): p for p in AMD64.packages}
    back = set()
    for v in amd64["vulnerabilities"]:
        package = packages[(v["purl"], v["location"])]
        assert (v["pkgName"], v["layer"]) == (
            package.name,
            {"index": package.layer.index, "digest": package.layer.digest},
        )
        back.add(
            Finding(
                v["id"],
                v["recordId"],
                tuple(v["aliases"]),
                package,
                v["installedVersion"],
                v["fixedVersion"],
                Severity(v["severity"], v["score"], v["severitySource"] or ""),
                v["title"],
                tuple(v["references"]),
                v["ecosystem"] or "",
            )
        )
    assert back == set(FINDINGS)
    assert [v["severity"] for v in amd64["vulnerabilities"]] == [
        "CRITICAL",
        "HIGH",
        "MEDIUM",
        "MEDIUM",
        "MEDIUM",
        "LOW",
        "UNKNOWN",
    ]
    assert amd64["problems"] == [
        {
            "code": UNREADABLE_FILE,
            "message": "python: METADATA is not valid",
            "location": "app/broken.dist-info/METADATA",
            "layer": None,
            "blocking": False,
        }
    ]
    assert arm64["platform"] == "linux/arm64/v8"
    assert arm64["vulnerabilities"] == []
    assert [p["blocking"] for p in arm64["problems"]] == [True]


def test_json_of_a_scan_without_database_has_null_db_version() -> None:
    document = render_json("json", ScanResult("img", [PlatformResult(AMD64, [])]))
    assert document["dbVersion"] is None
    assert document["results"][0]["vulnerabilities"] == []


# ---- SARIF -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        ("CRITICAL", "error"),
        ("HIGH", "error"),
        ("MEDIUM", "warning"),
        ("LOW", "note"),
        ("UNKNOWN", "note"),
    ],
)
def test_sarif_levels(severity: str, level: str) -> None:
    assert sarif.level(severity) == level
    results = render_json("sarif")["runs"][0]["results"]
    expected = {f.id for f in FINDINGS if f.severity.level == severity}
    assert expected
    assert {r["ruleId"] for r in results if r["level"] == level} >= expected


def test_sarif_has_what_github_code_scanning_requires() -> None:
    document = render_json("sarif")
    assert document["version"] == "2.1.0"
    assert document["$schema"].endswith("sarif-2.1.0.json")
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("cargohold", __version__)
    rules = driver["rules"]
    rule_ids = [rule["id"] for rule in rules]
    assert len(rule_ids) == len(set(rule_ids))
    # One rule per vulnerability ID: the CVE in two openssl packages is one rule, two results.
    assert {f.id for f in FINDINGS} <= set(rule_ids)
    assert len(run["results"]) == len(FINDINGS) + 1  # + the blocking inventory problem
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"].strip()
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"]
        assert not physical["artifactLocation"]["uri"].startswith("/")
        assert physical["region"]["startLine"] == 1
    by_rule: dict[str, list[str]] = {}
    for result in run["results"]:
        by_rule.setdefault(result["ruleId"], []).append(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        )
    assert by_rule["CVE-2023-5678"] == [STATUS, STATUS]
    assert by_rule["CVE-2023-32681"] == [REQUESTS.location]
    assert by_rule[OS_PACKAGES_NOT_INVENTORIED] == ["var/lib/rpm/Packages"]


# GitHub's bands for security-severity.
BANDS = {"CRITICAL": (9.0, 10.0), "HIGH": (7.0, 8.9), "MEDIUM": (4.0, 6.9), "LOW": (0.1, 3.9)}


def test_sarif_rules_carry_security_severity_and_help() -> None:
    rules = {r["id"]: r for r in render_json("sarif")["runs"][0]["tool"]["driver"]["rules"]}
    for f in FINDINGS:
        rule = rules[f.id]
        score = rule["properties"]["security-severity"]
        assert isinstance(score, str)
        if f.severity.score is not None:
            assert float(score) == f.severity.score
        low, high = BANDS.get(f.severity.level, (0.0, 0.0))
        assert low <= float(score) <= high
        assert {"vulnerability", "security", f.severity.level} <= set(rule["properties"]["tags"])
        assert rule["shortDescription"]["text"] == (f.summary or f.id)
        assert rule["helpUri"].startswith("https://")
        assert rule["help"]["text"] and rule["help"]["markdown"]
    assert rules["CVE-2023-32681"]["helpUri"] == REQUESTS_ADVISORY
    assert rules["CVE-2023-38545"]["helpUri"] == "https://osv.dev/vulnerability/DSA-5510-1"
    assert rules["CVE-2023-38545"]["name"] == "OsPackageVulnerability"
    assert rules["CVE-2023-32681"]["name"] == "LanguageSpecificPackageVulnerability"


REQUESTS_ADVISORY = "https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q"


def test_sarif_notes_every_inventory_problem() -> None:
    (invocation,) = render_json("sarif")["runs"][0]["invocations"]
    notes = {(n["descriptor"]["id"], n["level"]) for n in invocation["toolExecutionNotifications"]}
    assert notes == {(UNREADABLE_FILE, "warning"), (OS_PACKAGES_NOT_INVENTORIED, "error")}


def test_sarif_of_a_clean_image_has_no_results() -> None:
    run = render_json("sarif", ScanResult("img", [PlatformResult(AMD64, [])]))["runs"][0]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []


# ---- CycloneDX ---------------------------------------------------------------------


def test_cyclonedx_is_valid_against_the_1_5_schema() -> None:
    for result in (RESULT, ScanResult("img", [PlatformResult(AMD64, [])])):
        error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(render("cyclonedx", result))
        assert error is None, str(error)


def test_cyclonedx_components_are_the_inventory() -> None:
    bom = render_json("cyclonedx")
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", "1.5", 1)
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", bom["serialNumber"])
    image = bom["metadata"]["component"]
    assert (image["type"], image["name"]) == ("container", "oci:./app:1.0")
    libraries = [c for c in bom["components"] if c["type"] == "library"]
    assert {c["purl"] for c in libraries} == ALL_PURLS
    assert len(libraries) == len(ALL_PURLS)  # lodash twice in the image is one component
    for component in libraries:
        assert component["bom-ref"] == component["purl"]
    versions = {c["name"]: c["version"] for c in libraries}
    assert versions == {p.name: p.version for p in AMD64.packages}
    lodash = next(c for c in libraries if c["name"] == "lodash")
    paths = {p["value"] for p in lodash["properties"] if p["name"] == "cargohold:FilePath"}
    assert paths == {LODASH_A.location, LODASH_B.location}
    systems = [c for c in bom["components"] if c["type"] == "operating-system"]
    assert {(c["name"], c["version"]) for c in systems} == {("debian", "12"), ("rhel", "9.3")}


def test_cyclonedx_vulnerabilities_rate_and_point_at_components() -> None:
    bom = render_json("cyclonedx")
    refs = {c["bom-ref"] for c in bom["components"]}
    vulnerabilities = {v["id"]: v for v in bom["vulnerabilities"]}
    assert set(vulnerabilities) == {f.id for f in FINDINGS}
    for vulnerability in vulnerabilities.values():
        assert {a["ref"] for a in vulnerability["affects"]} <= refs
    openssl = vulnerabilities["CVE-2023-5678"]
    assert {a["ref"] for a in openssl["affects"]} == {LIBSSL.purl, OPENSSL.purl}
    assert openssl["ratings"] == [{"severity": "medium", "score": 5.3, "method": "CVSSv31"}]
    assert openssl["source"]["url"] == "https://osv.dev/vulnerability/DSA-5585-1"
    assert openssl["recommendation"] == (
        "Upgrade to libssl3 3.0.13-1~deb12u1, openssl 3.0.13-1~deb12u1"
    )
    lodash = vulnerabilities["CVE-2021-23337"]
    assert lodash["ratings"] == [{"severity": "high"}]  # no score: no method either
    requests = vulnerabilities["CVE-2023-32681"]
    assert {r["id"] for r in requests["references"]} == {"GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"}
    assert [a["url"] for a in requests["advisories"]] == [REQUESTS_ADVISORY]
    assert vulnerabilities["TEMP-0290435-0B57B5"]["ratings"] == [{"severity": "unknown"}]


def test_cyclonedx_without_findings_is_a_plain_sbom() -> None:
    bom = render_json("cyclonedx", ScanResult("img", [PlatformResult(AMD64, [])]))
    assert "vulnerabilities" not in bom or bom["vulnerabilities"] == []
    assert {c["purl"] for c in bom["components"] if c["type"] == "library"} == {
        p.purl for p in AMD64.packages
    }


# ---- SPDX --------------------------------------------------------------------------


def test_spdx_validates_with_spdx_tools(tmp_path: Path) -> None:
    path = tmp_path / "image.spdx.json"
    path.write_text(render("spdx"))
    assert validate_full_spdx_document(parse_file(str(path))) == []


def test_spdx_packages_are_the_inventory() -> None:
    document = render_json("spdx")
    assert document["spdxVersion"] == "SPDX-2.3"
    assert (document["dataLicense"], document["SPDXID"]) == ("CC0-1.0", "SPDXRef-DOCUMENT")
    assert document["name"] == "oci:./app:1.0"
    assert document["creationInfo"]["creators"] == [f"Tool: cargohold-{__version__}"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["creationInfo"]["created"])
    assert document["documentNamespace"] != render_json("spdx")["documentNamespace"]
    packages = document["packages"]
    assert len({p["SPDXID"] for p in packages}) == len(packages)
    purls = {}
    for package in packages:
        assert package["downloadLocation"] == "NOASSERTION"
        for ref in package.get("externalRefs", []):
            assert (ref["referenceCategory"], ref["referenceType"]) == ("PACKAGE-MANAGER", "purl")
            purls[ref["referenceLocator"]] = (package["name"], package["versionInfo"])
    assert set(purls) == ALL_PURLS
    assert purls[LIBSSL.purl] == ("libssl3", "3.0.11-1~deb12u2")
    libssl = next(p for p in packages if p["name"] == "libssl3")
    assert libssl["sourceInfo"] == "built package from: openssl 3.0.11-1~deb12u2"


def test_spdx_relationships_describe_the_image_and_contain_every_package() -> None:
    document = render_json("spdx")
    ids = {p["name"]: p["SPDXID"] for p in document["packages"]}
    relationships = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in document["relationships"]
    }
    image = ids["oci:./app:1.0"]
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", image) in relationships
    contained = {related for _, kind, related in relationships if kind == "CONTAINS"}
    assert contained == {p["SPDXID"] for p in document["packages"]} - {image}
    assert (ids["debian"], "CONTAINS", ids["curl"]) in relationships
    assert (image, "CONTAINS", ids["requests"]) in relationships
    assert (image, "CONTAINS", ids["debian"]) in relationships
