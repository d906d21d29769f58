"""Version ordering per ecosystem, and OSV range evaluation on top of it."""

from __future__ import annotations

import pytest

from cargohold.scan.osv import AffectedPackage, Event, Range
from cargohold.scan.versions import (
    VersionError,
    affected,
    compare,
    evaluate,
    evaluate_range,
    highest,
    lowest,
    supported,
)
from tests.scan.osv_data import record

# (ecosystem, lower, higher): each pair is ordered by the packaging tool's own rules,
# and most would sort the other way as plain strings or number tuples.
ORDERED = [
    ("Debian:12", "2.36-9+deb12u3", "2.36-9+deb12u14"),
    ("Debian:12", "1:1.2.11.dfsg-2+deb11u2", "1:1.2.13.dfsg-1"),
    ("Debian:12", "1.3.1-1", "1:1.2.13.dfsg-1"),  # the epoch wins
    ("Debian:12", "3.0.11-1~deb12u2", "3.0.11-1"),  # ~ sorts before the empty string
    ("Ubuntu:22.04:LTS", "2.35-0ubuntu3.1", "2.35-0ubuntu3.4"),
    ("Alpine:v3.19", "1.36.1-r9", "1.36.1-r15"),
    ("Alpine:v3.19", "3.1.4-r4", "3.1.4-r5"),
    ("Alpine:v3.19", "1.2.4_git20230717-r4", "1.2.4_git20230717-r5"),
    ("Alpine:v3.19", "1.2.4", "1.2.4_git20230717-r0"),  # _git is after the release
    ("Alpine:v3.19", "1.2.4_git20230717-r4", "1.2.5-r0"),
    ("Alpine:v3.19", "1.2.4_rc1", "1.2.4"),  # _rc is before it
    ("Alpine:v3.19", "1.2.4_git5", "1.2.4_p1"),  # apk: _cvs < _svn < _git < _hg < _p
    ("Alpine:v3.19", "1.2.4_svn9", "1.2.4_git1"),
    ("Alpine:v3.19", "2.4-r1", "2.4a-r0"),
    ("AlmaLinux:9", "2.34-60.el9", "2.34-100.el9"),
    ("AlmaLinux:9", "2.34-100.el9", "1:2.34-60.el9"),
    ("Rocky Linux:9", "1.0~rc1-1", "1.0-1"),
    ("PyPI", "2.9.2", "2.28.1"),
    ("PyPI", "2.31.0rc1", "2.31.0"),
    ("PyPI", "2.31.0", "2.31.0.post1"),
    ("npm", "4.17.9", "4.17.19"),
    ("npm", "1.0.0-rc.1", "1.0.0"),
    ("npm", "1.0.0-alpha.2", "1.0.0-alpha.10"),
    ("Go", "1.20.9", "1.20.10"),
    ("Go", "v0.15.0", "0.17.0"),  # module versions carry a v, OSV's do not
    ("Go", "go1.21rc2", "1.21.0"),  # toolchain pre-release
    ("Go", "1.21.0-0", "go1.21rc2"),  # the vulndb's lowest 1.21 pre-release
    ("Go", "v0.0.0-20230101000000-abcdefabcdef", "v0.0.1"),  # pseudo-version
    ("Maven", "2.0-beta9", "2.0"),
    ("Maven", "2.12.1", "2.12.2"),
    ("Maven", "2.9", "2.15.0"),
    ("Maven", "2.15.0-rc1", "2.15.0"),
    ("crates.io", "0.9.9", "0.10.0"),
]


@pytest.mark.parametrize(("ecosystem", "lower", "higher"), ORDERED)
def test_ordering(ecosystem: str, lower: str, higher: str) -> None:
    assert compare(ecosystem, lower, higher) == -1
    assert compare(ecosystem, higher, lower) == 1
    assert compare(ecosystem, lower, lower) == 0


@pytest.mark.parametrize(
    ("ecosystem", "a", "b"),
    [
        ("Go", "go1.20", "1.20.0"),
        ("Go", "v1.2.3", "1.2.3"),
        ("AlmaLinux:9", "0:2.34-60.el9", "2.34-60.el9"),
        ("PyPI", "1.0", "1.0.0"),
        ("Maven", "2.0", "2.0.0"),
    ],
)
def test_equal_spellings(ecosystem: str, a: str, b: str) -> None:
    assert compare(ecosystem, a, b) == 0


@pytest.mark.parametrize(
    ("ecosystem", "version"),
    [
        ("Debian:12", "not a version"),
        ("Debian:12", ""),
        ("PyPI", "2.x-final!"),
        ("npm", "latest"),
        ("Go", "(devel)"),
        ("Alpine:v3.19", "1.0-r1-r2"),
        ("Alpine:v3.19", "1.0_git1~abc123"),
        ("NuGet", ""),  # univers reads it as None, which compares with nothing
        ("npm", "1 .0"),  # univers would drop the space
    ],
)
def test_unreadable_versions_raise_version_error(ecosystem: str, version: str) -> None:
    with pytest.raises(VersionError):
        compare(ecosystem, version, "1.0")


def test_unknown_ecosystem() -> None:
    assert not supported("Hackage")
    assert supported("Debian:12") and supported("Alpine") and supported("Maven:https://x")
    with pytest.raises(VersionError, match="Hackage"):
        compare("Hackage", "1", "2")


def test_lowest_and_highest_use_the_ecosystem_order() -> None:
    versions = ["2.36-9+deb12u14", "2.36-9+deb12u3", "2.36-9+deb12u10"]
    assert lowest("Debian:12", versions) == "2.36-9+deb12u3"
    assert highest("Debian:12", versions) == "2.36-9+deb12u14"
    assert lowest("Debian:12", []) is None


# -- range evaluation (the schema's evaluation pseudo-code) -------------------------------


def _range(kind: str, *events: tuple[str, str]) -> Range:
    return Range(kind, tuple(Event(k, v) for k, v in events))


def test_debian_fixed_range() -> None:
    (range_,) = record("DSA-5514-1").affected[0].ranges
    assert evaluate_range(range_, "2.36-9+deb12u1", "Debian:12").fixed == "2.36-9+deb12u3"
    assert evaluate_range(range_, "2.36-9+deb12u3", "Debian:12") is None  # the fix itself
    assert evaluate_range(range_, "2.36-9+deb12u14", "Debian:12") is None
    assert affected(range_, "2.36-9", "Debian:12")
    assert not affected(range_, "2.36-9+deb12u3", "Debian:12")


def test_go_stdlib_two_intervals_in_one_semver_range() -> None:
    stdlib = record("GO-2023-2102").affected[0]
    (range_,) = stdlib.ranges
    expected = {
        "1.19.13": "1.20.10",
        "1.20.9": "1.20.10",
        "1.20.10": None,
        "1.21.0-rc.2": "1.21.3",
        "1.21.0": "1.21.3",
        "go1.21.2": "1.21.3",
        "1.21.3": None,
        "1.22.0": None,
    }
    for version, fixed in expected.items():
        match = evaluate_range(range_, version, "Go")
        assert (match.fixed if match else None) == fixed, version


def test_events_are_evaluated_in_version_order_not_file_order() -> None:
    stdlib = record("GO-2023-2102").affected[0]
    shuffled = Range("SEMVER", tuple(reversed(stdlib.ranges[0].events)))
    assert evaluate_range(shuffled, "1.21.1", "Go").fixed == "1.21.3"
    assert evaluate_range(shuffled, "1.20.12", "Go") is None


def test_last_affected_is_inclusive_and_reports_no_fix() -> None:
    (range_,) = record("GHSA-w596-4wvx-j9j6").affected[0].ranges
    assert evaluate_range(range_, "1.11.0", "PyPI").fixed is None
    assert evaluate_range(range_, "1.4.34", "PyPI") is not None
    assert evaluate_range(range_, "1.11.1", "PyPI") is None


def test_introduced_bound_is_inclusive() -> None:
    (range_,) = record("GHSA-p6mc-m468-83gw").affected[0].ranges  # lodash >= 3.7.0, < 4.17.19
    assert evaluate_range(range_, "3.6.0", "npm") is None
    assert evaluate_range(range_, "3.7.0", "npm").fixed == "4.17.19"
    assert evaluate_range(range_, "4.17.15", "npm").fixed == "4.17.19"


def test_semver_range_uses_semver_even_in_another_ecosystem() -> None:
    # Under PEP 440 "1.0.0-rc.1" would read as 1.0.0rc1; under semver the pre-release
    # is below 1.0.0 either way, but "1.0.0-1" is a pre-release only in semver.
    range_ = _range("SEMVER", ("introduced", "0"), ("fixed", "1.0.0"))
    assert evaluate_range(range_, "1.0.0-1", "PyPI") is not None
    ecosystem_range = _range("ECOSYSTEM", ("introduced", "0"), ("fixed", "1.0.0"))
    assert evaluate_range(ecosystem_range, "1.0.0-1", "PyPI") is None  # PEP 440: 1.0.0.post1


def test_limit_events() -> None:
    range_ = _range("ECOSYSTEM", ("introduced", "1.0"), ("limit", "2.0"))
    assert evaluate_range(range_, "1.5", "PyPI") is not None
    assert evaluate_range(range_, "2.0", "PyPI") is None
    assert evaluate_range(range_, "0.9", "PyPI") is None
    unlimited = _range("ECOSYSTEM", ("introduced", "1.0"), ("limit", "*"))
    assert evaluate_range(unlimited, "99", "PyPI") is not None


def test_git_ranges_never_match() -> None:
    git, _ = record("PYSEC-2023-74").affected[0].ranges
    assert evaluate_range(git, "2.28.1", "PyPI") is None
    assert evaluate_range(git, "74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5", "PyPI") is None


def test_unreadable_versions_never_match_a_range() -> None:
    range_ = _range("ECOSYSTEM", ("introduced", "0"), ("fixed", "2.31.0"))
    assert evaluate_range(range_, "not-a-version!", "PyPI") is None
    broken = _range("ECOSYSTEM", ("introduced", "0"), ("fixed", "?!"))
    assert evaluate_range(broken, "1.0", "PyPI") is None
    assert evaluate_range(range_, "1.0", "Hackage") is None


def test_versions_list_matches_exactly_even_when_unorderable() -> None:
    entry = AffectedPackage(
        ecosystem="PyPI",
        name="example",
        ranges=(_range("ECOSYSTEM", ("introduced", "0"), ("fixed", "2.0")),),
        versions=("1.0", "legacy-build-7"),
    )
    assert evaluate(entry, "legacy-build-7") is not None
    assert evaluate(entry, "legacy-build-8") is None
    assert evaluate(entry, "1.5").fixed == "2.0"
    assert evaluate(entry, "2.0") is None


def test_versions_only_record() -> None:
    pysec = record("PYSEC-2023-74").affected[0]
    versions_only = AffectedPackage(pysec.ecosystem, pysec.name, versions=pysec.versions)
    assert evaluate(versions_only, "2.28.1").fixed is None
    assert evaluate(versions_only, "2.28.3") is None  # never released, so not listed
    assert evaluate(versions_only, "2.31.0") is None


def test_several_ranges_report_the_lowest_fix_above() -> None:
    entry = AffectedPackage(
        ecosystem="npm",
        name="example",
        ranges=(
            _range("SEMVER", ("introduced", "0"), ("fixed", "1.4.0")),
            _range("SEMVER", ("introduced", "1.0.0"), ("fixed", "1.2.0")),
        ),
    )
    assert evaluate(entry, "1.1.0").fixed == "1.2.0"
    assert evaluate(entry, "1.3.0").fixed == "1.4.0"
    assert evaluate(entry, "1.4.0") is None
