"""Matching inventories against real OSV records: what a user sees as findings."""

from __future__ import annotations

from cargohold.scan import dpkg
from cargohold.scan.findings import Finding, severity_rank
from cargohold.scan.matching import Target, match_inventory, targets_for
from cargohold.scan.model import OSInfo, Package
from cargohold.scan.osv import parse_record
from tests.scan.content import DATA
from tests.scan.osv_data import (
    ALPINE_3_18,
    ALPINE_3_19,
    DEBIAN_11,
    DEBIAN_12,
    UBUNTU_22_04,
    UBUNTU_23_04,
    MemorySource,
    all_records,
    inventory,
    package,
    raw,
    record,
)


def _db() -> MemorySource:
    return MemorySource(all_records())


def _by_id(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    keyed = {(f.package.name, f.id): f for f in findings}
    assert len(keyed) == len(findings), "one finding per (package, vulnerability)"
    return keyed


def _libc6(version: str) -> Package:
    return package("deb", "libc6", version, "glibc", version)


# -- Debian ------------------------------------------------------------------------------


def test_debian_12_glibc_before_the_dsa() -> None:
    findings = _by_id(match_inventory(inventory(DEBIAN_12, _libc6("2.36-9+deb12u1")), _db()))
    assert set(findings) == {("libc6", "CVE-2023-4911"), ("libc6", "CVE-2023-4806")}
    looney = findings["libc6", "CVE-2023-4911"]
    assert looney.installed_version == "2.36-9+deb12u1"
    assert looney.fixed_version == "2.36-9+deb12u3"
    assert looney.ecosystem == "Debian:12"
    # DSA-5514-1 and DEBIAN-CVE-2023-4911 name the same CVE: one finding, both ids.
    assert looney.ids == {"CVE-2023-4911", "DSA-5514-1", "DEBIAN-CVE-2023-4911"}
    # Neither Debian record has a severity; the upstream CVE record does.
    assert (looney.severity.level, looney.severity.score) == ("HIGH", 7.8)
    assert looney.severity.source == "CVE-2023-4911 severity CVSS_V3 (upstream)"


def test_a_dsa_with_several_cves_gives_one_finding_per_cve() -> None:
    findings = _by_id(match_inventory(inventory(DEBIAN_12, _libc6("2.36-9+deb12u1")), _db()))
    other = findings["libc6", "CVE-2023-4806"]
    assert other.record_id == "DSA-5514-1"
    assert other.fixed_version == "2.36-9+deb12u3"
    # An ignore entry for CVE-2023-4911 must not hide CVE-2023-4806, and vice versa.
    assert "CVE-2023-4911" not in other.ids
    assert "CVE-2023-4806" not in findings["libc6", "CVE-2023-4911"].ids
    # No record in the database scores CVE-2023-4806.
    assert other.severity.level == "UNKNOWN"


def test_every_binary_package_of_the_source_gets_its_finding() -> None:
    libc_bin = package("deb", "libc-bin", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1")
    findings = match_inventory(inventory(DEBIAN_12, _libc6("2.36-9+deb12u1"), libc_bin), _db())
    assert sorted((f.package.name, f.id) for f in findings if f.id == "CVE-2023-4911") == [
        ("libc-bin", "CVE-2023-4911"),
        ("libc6", "CVE-2023-4911"),
    ]


def test_the_source_version_is_compared_not_the_binary_version() -> None:
    # A binNMU: binary 2.36-9+deb12u1+b1 built from source 2.36-9+deb12u3 is fixed.
    rebuilt = package("deb", "libc6", "2.36-9+deb12u1+b1", "glibc", "2.36-9+deb12u3")
    assert match_inventory(inventory(DEBIAN_12, rebuilt), _db()) == []


def test_debian_12_advisories_do_not_apply_to_debian_11() -> None:
    bullseye_glibc = _libc6("2.31-13+deb11u6")  # below 2.36-9+deb12u3
    assert match_inventory(inventory(DEBIAN_11, bullseye_glibc), _db()) == []


def test_debian_11_advisories_do_not_apply_to_debian_12() -> None:
    zlib = package("deb", "zlib1g", "1:1.2.11.dfsg-2+deb11u1", "zlib", "1:1.2.11.dfsg-2+deb11u1")
    (finding,) = match_inventory(inventory(DEBIAN_11, zlib), _db())
    assert (finding.id, finding.record_id) == ("CVE-2022-37434", "DSA-5218-1")
    assert finding.fixed_version == "1:1.2.11.dfsg-2+deb11u2"
    assert finding.ecosystem == "Debian:11"
    assert match_inventory(inventory(DEBIAN_12, zlib), _db()) == []


def test_the_debian_test_image_is_past_these_fixes() -> None:
    records = dpkg.parse("var/lib/dpkg/status", (DATA / "dpkg" / "status-base").read_bytes(), None)
    packages = [
        package(r.type, r.name, r.version, r.source_name, r.source_version) for r in records
    ]
    assert {p.source_name for p in packages} >= {"glibc", "zlib", "openssl"}
    db = _db()
    assert match_inventory(inventory(DEBIAN_12, *packages), db) == []
    # Asked by source package, in the release's ecosystem, once per source.
    assert ("Debian:12", "glibc") in db.asked_for and ("Debian:12", "libc6") not in db.asked_for
    assert len(db.asked_for) == len(set(db.asked_for))


def test_debian_without_version_id_uses_the_codename() -> None:
    testing = OSInfo("debian", None, version_codename="bookworm")
    assert [t.ecosystem for t in targets_for(_libc6("2.36-9"), testing)] == ["Debian:12"]
    assert targets_for(_libc6("2.36-9"), OSInfo("debian")) == []


# -- Ubuntu ------------------------------------------------------------------------------


def test_ubuntu_lts_release() -> None:
    glibc = _libc6("2.35-0ubuntu3.1")
    (finding,) = match_inventory(inventory(UBUNTU_22_04, glibc), _db())
    assert (finding.id, finding.record_id) == ("CVE-2023-4911", "UBUNTU-CVE-2023-4911")
    assert finding.ecosystem == "Ubuntu:22.04:LTS"
    assert finding.fixed_version == "2.35-0ubuntu3.4"
    assert finding.severity.source == "UBUNTU-CVE-2023-4911 severity CVSS_V3"
    assert match_inventory(inventory(UBUNTU_22_04, _libc6("2.35-0ubuntu3.4")), _db()) == []


def test_ubuntu_interim_release_has_no_lts_suffix() -> None:
    (finding,) = match_inventory(inventory(UBUNTU_23_04, _libc6("2.37-0ubuntu2")), _db())
    assert finding.ecosystem == "Ubuntu:23.04"
    assert finding.fixed_version == "2.37-0ubuntu2.1"


def test_an_ubuntu_version_with_unicode_digits_is_an_interim_release() -> None:
    """VERSION_ID comes from the image: "²²" passes str.isdigit() but not int()."""
    strange = OSInfo("ubuntu", "²².04")
    assert [t.ecosystem for t in targets_for(_libc6("2.35-0ubuntu3.1"), strange)] == [
        "Ubuntu:²².04"
    ]


# -- Alpine ------------------------------------------------------------------------------


def _apk(name: str, version: str, origin: str) -> Package:
    return package("apk", name, version, origin, version)


def test_alpine_3_19_test_image_packages() -> None:
    # As in tests/data/scan/apk/installed: musl 1.2.4_git20230717-r4, openssl 3.1.4-r5.
    packages = [
        _apk("musl", "1.2.4_git20230717-r4", "musl"),
        _apk("musl-utils", "1.2.4_git20230717-r4", "musl"),
        _apk("libssl3", "3.1.4-r5", "openssl"),
        _apk("libcrypto3", "3.1.4-r5", "openssl"),
    ]
    findings = _by_id(match_inventory(inventory(ALPINE_3_19, *packages), _db()))
    # The musl fix is the next revision of the same _git snapshot; openssl r5 is the fix.
    assert set(findings) == {("musl", "CVE-2025-26519"), ("musl-utils", "CVE-2025-26519")}
    musl = findings["musl", "CVE-2025-26519"]
    assert musl.record_id == "ALPINE-CVE-2025-26519"
    assert musl.fixed_version == "1.2.4_git20230717-r5"
    assert musl.ecosystem == "Alpine:v3.19"
    assert musl.severity.level == "UNKNOWN"


def test_alpine_openssl_before_the_fix_and_other_branches() -> None:
    libssl = _apk("libssl3", "3.1.4-r4", "openssl")
    (finding,) = match_inventory(inventory(ALPINE_3_19, libssl), _db())
    assert (finding.id, finding.fixed_version) == ("CVE-2024-0727", "3.1.4-r5")
    assert match_inventory(inventory(ALPINE_3_18, libssl), _db()) == []


# -- language packages --------------------------------------------------------------------


def test_pypi_ghsa_and_pysec_twins_are_one_finding() -> None:
    findings = match_inventory(inventory(DEBIAN_12, package("pypi", "requests", "2.28.1")), _db())
    (finding,) = findings
    assert finding.id == "CVE-2023-32681"
    # The GHSA carries the severity; the PYSEC record none: the GHSA is the one reported.
    assert finding.record_id == "GHSA-j8r2-6x86-5jq8"
    assert finding.aliases == ("PYSEC-2023-74",)
    assert (finding.severity.level, finding.severity.score) == ("MEDIUM", 6.1)
    assert finding.fixed_version == "2.31.0"
    assert finding.summary == "Unintended leak of Proxy-Authorization header in requests"
    assert finding.references[0] == (
        "https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-5jq8"
    )
    assert finding.ecosystem == "PyPI"


def test_pypi_names_are_normalised() -> None:
    db = _db()
    (finding,) = match_inventory(inventory(None, package("pypi", "Requests", "2.28.1")), db)
    assert finding.id == "CVE-2023-32681"
    assert db.asked_for == [("PyPI", "requests")]


def test_urllib3_fix_is_the_one_of_its_branch() -> None:
    expected = {"1.26.12": "1.26.18", "2.0.6": "2.0.7", "1.26.18": None, "2.0.7": None}
    for version, fixed in expected.items():
        findings = match_inventory(inventory(None, package("pypi", "urllib3", version)), _db())
        assert [f.fixed_version for f in findings] == ([fixed] if fixed else []), version


def test_last_affected_without_a_fix() -> None:
    (finding,) = match_inventory(inventory(None, package("pypi", "py", "1.11.0")), _db())
    assert finding.id == "CVE-2022-42969" and finding.fixed_version is None
    assert not finding.fixed
    assert match_inventory(inventory(None, package("pypi", "py", "1.11.1")), _db()) == []


def test_npm_lodash_versions_from_the_test_images() -> None:
    def ids(version: str) -> list[str]:
        found = match_inventory(inventory(None, package("npm", "lodash", version)), _db())
        return sorted(f.id for f in found)

    assert ids("4.17.15") == ["CVE-2020-8203", "CVE-2021-23337"]
    assert ids("4.17.20") == ["CVE-2021-23337"]
    assert ids("4.17.21") == []
    assert ids("3.6.0") == ["CVE-2021-23337"]  # CVE-2020-8203 was introduced in 3.7.0


def test_npm_minimist_is_critical() -> None:
    (finding,) = match_inventory(inventory(None, package("npm", "minimist", "1.2.5")), _db())
    assert (finding.id, finding.severity.level, finding.fixed_version) == (
        "CVE-2021-44906",
        "CRITICAL",
        "1.2.6",
    )


def test_go_stdlib_and_module() -> None:
    stdlib = package("golang", "stdlib", "1.21.1")
    net = package("golang", "golang.org/x/net", "v0.15.0")
    findings = _by_id(match_inventory(inventory(None, stdlib, net), _db()))
    std = findings["stdlib", "CVE-2023-39325"]
    assert (std.record_id, std.fixed_version) == ("GO-2023-2102", "1.21.3")
    # The Go record has no severity; its GHSA alias has one.
    assert std.severity.source == "GHSA-4374-p667-p6c8 severity CVSS_V3 (alias)"
    module = findings["golang.org/x/net", "CVE-2023-39325"]
    assert module.fixed_version == "0.17.0"
    assert module.installed_version == "v0.15.0"
    assert module.ids == {"CVE-2023-39325", "GO-2023-2102", "GHSA-4374-p667-p6c8"}
    fixed = package("golang", "stdlib", "1.20.10")
    assert match_inventory(inventory(None, fixed), _db()) == []


def test_go_packages_of_the_go_binary_test_image() -> None:
    # Debian bookworm's golang-go is 1.19.8; the test binary depends on x/text v0.3.5.
    stdlib = package("golang", "stdlib", "1.19.8")
    text = package("golang", "golang.org/x/text", "v0.3.5")
    findings = _by_id(match_inventory(inventory(DEBIAN_12, stdlib, text), _db()))
    assert set(findings) == {("stdlib", "CVE-2023-39325"), ("golang.org/x/text", "CVE-2022-32149")}
    assert findings["stdlib", "CVE-2023-39325"].fixed_version == "1.20.10"
    text_finding = findings["golang.org/x/text", "CVE-2022-32149"]
    assert (text_finding.record_id, text_finding.fixed_version) == ("GO-2022-1059", "0.3.8")
    assert text_finding.ecosystem == "Go"


def test_maven_log4j_core_branches() -> None:
    def fixed_in(version: str, name: str = "org.apache.logging.log4j:log4j-core") -> list[str]:
        log4j = package(
            "maven", name, version, purl=f"pkg:maven/org.apache.logging.log4j/log4j-core@{version}"
        )
        return [f.fixed_version or "" for f in match_inventory(inventory(None, log4j), _db())]

    assert fixed_in("2.14.1") == ["2.15.0"]
    assert fixed_in("2.12.1") == ["2.12.2"]
    assert fixed_in("2.0-beta9") == ["2.3.1"]
    assert fixed_in("2.0-beta8") == []
    assert fixed_in("2.17.1") == []
    # A package named by artifact only is matched by group:artifact from its purl.
    assert fixed_in("2.14.1", name="log4j-core") == ["2.15.0"]


# -- record states and variants -------------------------------------------------------------


def test_withdrawn_records_never_match() -> None:
    data = raw("GHSA-xvch-5gv4-984h")
    data["withdrawn"] = "2024-06-21T21:33:52Z"
    minimist = package("npm", "minimist", "1.2.5")
    assert match_inventory(inventory(None, minimist), MemorySource([parse_record(data)])) == []


def test_withdrawn_related_records_give_no_severity() -> None:
    cve = raw("CVE-2023-4911")
    cve["withdrawn"] = "2025-01-01T00:00:00Z"
    db = MemorySource([record("DEBIAN-CVE-2023-4911"), parse_record(cve)])
    (finding,) = match_inventory(inventory(DEBIAN_12, _libc6("2.36-9+deb12u1")), db)
    assert finding.severity.level == "UNKNOWN"


def test_a_versions_list_only_record() -> None:
    # PYSEC-2023-74 reduced to its `versions` list: exact versions match, nothing else.
    data = raw("PYSEC-2023-74")
    del data["affected"][0]["ranges"]
    db = MemorySource([parse_record(data)])
    (finding,) = match_inventory(inventory(None, package("pypi", "requests", "2.28.1")), db)
    assert (finding.id, finding.fixed_version) == ("CVE-2023-32681", None)
    assert finding.severity.level == "UNKNOWN"  # the GHSA with the score is not in this db
    assert match_inventory(inventory(None, package("pypi", "requests", "2.31.0")), db) == []


def test_an_unreadable_installed_version_does_not_crash() -> None:
    bad = [
        package("pypi", "requests", "not a version"),
        package("deb", "libc6", "bad version!", "glibc", "bad version!"),
        package("npm", "lodash", "latest"),
    ]
    assert match_inventory(inventory(DEBIAN_12, *bad), _db()) == []


def test_packages_without_an_ecosystem_are_not_looked_up() -> None:
    db = _db()
    odd = [
        package("deb", "libc6", "2.36-9", "glibc", "2.36-9"),
        package("apk", "musl", "1.2.4-r0", "musl", "1.2.4-r0"),
        package("conda", "numpy", "1.0"),
    ]
    assert match_inventory(inventory(None, *odd), db) == []
    assert match_inventory(inventory(OSInfo("fedora", "39"), *odd), db) == []
    assert db.asked_for == []


def test_related_records_are_fetched_in_one_batch() -> None:
    db = _db()
    packages = [
        _libc6("2.36-9+deb12u1"),
        package("golang", "stdlib", "1.21.1"),
        package("pypi", "requests", "2.28.1"),
    ]
    match_inventory(inventory(DEBIAN_12, *packages), db)
    assert len(db.asked_ids) == 1
    assert {"CVE-2023-4911", "GHSA-4374-p667-p6c8"} <= set(db.asked_ids[0])


def test_findings_are_sorted_by_severity_then_package_then_id() -> None:
    packages = [
        package("pypi", "urllib3", "1.26.12"),  # MEDIUM
        package("npm", "lodash", "4.17.15"),  # HIGH x2
        _libc6("2.36-9+deb12u1"),  # HIGH + UNKNOWN
        package("npm", "minimist", "1.2.5"),  # CRITICAL
        package("pypi", "requests", "2.28.1"),  # MEDIUM
    ]
    findings = match_inventory(inventory(DEBIAN_12, *packages), _db())
    assert [(f.severity.level, f.package.name, f.id) for f in findings] == [
        ("CRITICAL", "minimist", "CVE-2021-44906"),
        ("HIGH", "libc6", "CVE-2023-4911"),
        ("HIGH", "lodash", "CVE-2020-8203"),
        ("HIGH", "lodash", "CVE-2021-23337"),
        ("MEDIUM", "requests", "CVE-2023-32681"),
        ("MEDIUM", "urllib3", "CVE-2023-45803"),
        ("UNKNOWN", "libc6", "CVE-2023-4806"),
    ]
    ranks = [severity_rank(f.severity.level) for f in findings]
    assert ranks == sorted(ranks)


def test_dedupe_keeps_the_fix_every_record_agrees_on() -> None:
    # Two records for one CVE disagree on the fix: the higher one is reported.
    later = raw("DEBIAN-CVE-2023-4911")
    later["affected"][0]["ranges"][0]["events"][1]["fixed"] = "2.36-9+deb12u4"
    db = MemorySource([record("DSA-5514-1"), parse_record(later)])
    findings = _by_id(match_inventory(inventory(DEBIAN_12, _libc6("2.36-9+deb12u3")), db))
    # u3 is fixed for the DSA but not for the other record: still one finding, fix u4.
    assert set(findings) == {("libc6", "CVE-2023-4911")}
    assert findings["libc6", "CVE-2023-4911"].fixed_version == "2.36-9+deb12u4"
    (both,) = [
        f
        for f in match_inventory(inventory(DEBIAN_12, _libc6("2.36-9+deb12u1")), db)
        if f.id == "CVE-2023-4911"
    ]
    assert both.fixed_version == "2.36-9+deb12u4"
    assert {both.record_id, *both.aliases} == {"DSA-5514-1", "DEBIAN-CVE-2023-4911"}


def test_targets() -> None:
    assert targets_for(package("pypi", "Typing_Extensions", "4.9.0"), None) == [
        Target("PyPI", "typing-extensions", "4.9.0")
    ]
    zlib = package("apk", "zlib", "1.3.1-r0", "zlib", "1.3.1-r0")
    assert targets_for(zlib, OSInfo("alpine", "3.20.0_alpha20240315")) == [
        Target("Alpine:v3.20", "zlib", "1.3.1-r0")
    ]
    rpm = package("rpm", "openssl-libs", "1:3.0.7-27.el9", "openssl", "3.0.7-27.el9")
    # ALSA and RLSA records name the binary RPMs they fix, never the source package.
    assert targets_for(rpm, OSInfo("almalinux", "9.4")) == [
        Target("AlmaLinux:9", "openssl-libs", "1:3.0.7-27.el9")
    ]
    assert targets_for(rpm, OSInfo("rocky", "9.3")) == [
        Target("Rocky Linux:9", "openssl-libs", "1:3.0.7-27.el9")
    ]


def test_related_cves_name_a_language_finding_never() -> None:
    # In a language advisory `related` points at another vulnerability (here: the CVE of a
    # different product); the finding keeps the record's own id. Distribution advisories
    # (AlmaLinux) put the CVEs they fix there: tests/scan/test_redhat_family.py.
    data = raw("GHSA-j8r2-6x86-5jq8")
    data["aliases"] = []
    data["related"] = ["CVE-2099-9999"]
    db = MemorySource([parse_record(data)])
    (finding,) = match_inventory(inventory(None, package("pypi", "requests", "2.28.1")), db)
    assert (finding.id, finding.aliases) == ("GHSA-j8r2-6x86-5jq8", ())
