"""Version ordering per ecosystem, and the OSV range evaluation built on it.

Each ecosystem uses its packaging tool's own ordering, from a maintained library:
dpkg (python-debian), PEP 440 (packaging), and apk, rpm, semver, Maven, NuGet,
RubyGems and Composer (univers). A version a scheme cannot read is "not comparable":
it never matches a range, but it can still match a record's `versions` list exactly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from debian.debian_support import Version as DpkgVersion
from packaging.version import Version as Pep440Version
from univers import versions as uv

from cargohold.scan.osv import AffectedPackage, Range, ecosystem_base


class VersionError(ValueError):
    """A version string the ecosystem's scheme cannot read, or an ecosystem with no scheme."""


# apk's post-release suffixes in its own order (apk-tools version.c): _cvs < _svn < _git
# < _hg < _p. univers reads apk versions with the Gentoo comparator, which knows only _p
# of these, so each one is rewritten as a pair of _p suffixes that sorts the same way:
# _p<rank>_p<number>. Gentoo compares suffix lists element by element, so the rank
# decides first and the number second, and every pair stays above the plain release.
_APK_POST_RELEASE = {"cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}
_APK_SUFFIX = re.compile(r"_(cvs|svn|git|hg|p)(\d*)(?=_|-r\d+$|$)")


def _apk(version: str) -> Any:
    if "~" in version:  # a trailing commit hash: apk orders it, the Gentoo reader cannot
        raise VersionError(f"{version!r} is not an apk version this scanner can compare")
    gentoo = _APK_SUFFIX.sub(lambda m: f"_p{_APK_POST_RELEASE[m[1]]}_p{m[2] or 0}", version)
    return uv.AlpineLinuxVersion(gentoo)


def _dpkg(version: str) -> Any:
    return DpkgVersion(version)


def _pep440(version: str) -> Any:
    return Pep440Version(version)


def _semver(version: str) -> Any:
    return uv.SemverVersion(version)


# A Go toolchain version as the runtime reports it (go1.21.3, go1.20, go1.21rc2).
_GO_TOOLCHAIN = re.compile(r"go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(beta|rc)(\d+))?")


def _go(version: str) -> Any:
    """Go module versions are semver with a leading v; the toolchain is go1.N[.P][rcN].

    The Go vulnerability database writes both without the prefix (1.21.3, 0.17.0) and a
    toolchain pre-release as 1.21.0-rc.2, which is how this reads go1.21rc2.
    """
    if toolchain := _GO_TOOLCHAIN.fullmatch(version):
        major, minor, patch, pre, number = toolchain.groups()
        version = f"{major}.{minor or 0}.{patch or 0}" + (f"-{pre}.{number}" if pre else "")
    return uv.SemverVersion(version.removeprefix("v"))


# Ecosystem base name -> a reader that turns a version string into an orderable value.
SCHEMES: dict[str, Callable[[str], Any]] = {
    "Debian": _dpkg,
    "Ubuntu": _dpkg,
    "Alpine": _apk,
    "Wolfi": _apk,
    "Chainguard": _apk,
    "Red Hat": uv.RpmVersion,
    "AlmaLinux": uv.RpmVersion,
    "Rocky Linux": uv.RpmVersion,
    "openSUSE": uv.RpmVersion,
    "SUSE": uv.RpmVersion,
    "Photon OS": uv.RpmVersion,
    "Mageia": uv.RpmVersion,
    "openEuler": uv.RpmVersion,
    "PyPI": _pep440,
    "npm": _semver,
    "crates.io": _semver,
    "Hex": _semver,
    "Pub": _semver,
    "Go": _go,
    "Maven": uv.MavenVersion,
    "NuGet": uv.NugetVersion,
    "RubyGems": uv.RubygemsVersion,
    "Packagist": uv.ComposerVersion,
}


def supported(ecosystem: str) -> bool:
    """Whether versions of this ecosystem (full string or base name) can be ordered."""
    return ecosystem_base(ecosystem) in SCHEMES


@functools.lru_cache(maxsize=65536)
def version_key(ecosystem: str, version: str) -> Any:
    """An orderable value for `version` under the ecosystem's scheme; VersionError if none."""
    scheme = SCHEMES.get(ecosystem_base(ecosystem))
    if scheme is None:
        raise VersionError(f"no version ordering is known for ecosystem {ecosystem!r}")
    if not version or any(c.isspace() for c in version):
        # No scheme has spaces in versions; univers would quietly drop them (and read an
        # empty NuGet version as None, which does not compare).
        raise VersionError(f"{version!r} is not a valid {ecosystem_base(ecosystem)} version")
    try:
        return scheme(version)
    except VersionError:
        raise
    except Exception:  # each library has its own errors for malformed input (NuGet's too)
        raise VersionError(
            f"{version!r} is not a valid {ecosystem_base(ecosystem)} version"
        ) from None


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as a sorts before, with or after b; VersionError if either is unreadable."""
    key_a, key_b = version_key(ecosystem, a), version_key(ecosystem, b)
    return (key_a > key_b) - (key_a < key_b)


@dataclass(frozen=True)
class RangeMatch:
    """A version inside an affected range, and the fix that ends that part of the range."""

    fixed: str | None  # the lowest `fixed` above the version, when the range names one


def evaluate_range(range_: Range, version: str, ecosystem: str) -> RangeMatch | None:
    """The OSV evaluation of one range (the schema's IncludedInRanges), or None if outside.

    ECOSYSTEM ranges use the ecosystem's ordering and SEMVER ranges semantic versioning
    (with the Go prefix rules for Go). GIT ranges need the repository's commit graph, so
    they never match here. A version or event the scheme cannot read makes the range
    unusable: no match rather than a guess.
    """
    if range_.type == "GIT":
        return None
    scheme = ecosystem if range_.type == "ECOSYSTEM" or ecosystem_base(ecosystem) == "Go" else "npm"
    try:
        current = version_key(scheme, version)
        # (kind, value, key); key None is an open bound: introduced "0" or a "*" limit.
        events = [(e.kind, e.value, _event_key(scheme, e.kind, e.value)) for e in range_.events]
    except VersionError:
        return None
    try:
        return _walk(current, events)
    except TypeError:  # keys a library cannot compare after all: no guess
        return None


def affected(range_: Range, version: str, ecosystem: str) -> bool:
    """Whether `version` lies in the range (see evaluate_range)."""
    return evaluate_range(range_, version, ecosystem) is not None


def _walk(current: Any, events: list[tuple[str, str, Any]]) -> RangeMatch | None:
    limits = [key for kind, _, key in events if kind == "limit"]
    if limits and not any(key is None or current < key for key in limits):
        return None
    vulnerable = False
    bounds = sorted((e for e in events if e[0] != "limit"), key=functools.cmp_to_key(_by_version))
    for kind, _, key in bounds:
        if kind == "introduced" and (key is None or current >= key):
            vulnerable = True
        elif (kind == "fixed" and current >= key) or (kind == "last_affected" and current > key):
            vulnerable = False
    if not vulnerable:
        return None
    fixes = [(key, value) for kind, value, key in events if kind == "fixed" and key > current]
    return RangeMatch(fixed=min(fixes, key=lambda fix: fix[0])[1] if fixes else None)


def evaluate(affected: AffectedPackage, version: str) -> RangeMatch | None:
    """Whether `version` of the package is affected: in any range, or in `versions`.

    The fix reported is the lowest one above the version among the ranges it falls in.
    """
    matches = [
        match
        for range_ in affected.ranges
        if (match := evaluate_range(range_, version, affected.ecosystem)) is not None
    ]
    if not matches and not listed(affected.ecosystem, version, affected.versions):
        return None
    fixes = [m.fixed for m in matches if m.fixed is not None]
    return RangeMatch(fixed=lowest(affected.ecosystem, fixes))


def listed(ecosystem: str, version: str, versions: tuple[str, ...]) -> bool:
    """Whether `version` is in a record's `versions` list, by the ecosystem's equality
    (PyPI 2020.12.05 is 2020.12.5, Go 1.3.0 is v1.3.0); an exact string where the ecosystem
    has no ordering, or the version or an entry cannot be read."""
    if version in versions:
        return True
    if not versions or not supported(ecosystem):
        return False
    try:
        installed = version_key(ecosystem, version)
    except VersionError:
        return False
    for entry in versions:
        try:
            if version_key(ecosystem, entry) == installed:
                return True
        except (VersionError, TypeError):
            continue
    return False


def lowest(ecosystem: str, versions: list[str]) -> str | None:
    """The lowest of some versions by the ecosystem's ordering; the first if unorderable."""
    if not versions:
        return None
    try:
        return min(versions, key=lambda v: version_key(ecosystem, v))
    except (VersionError, TypeError):
        return versions[0]


def highest(ecosystem: str, versions: list[str]) -> str | None:
    """The highest of some versions by the ecosystem's ordering; the first if unorderable."""
    if not versions:
        return None
    try:
        return max(versions, key=lambda v: version_key(ecosystem, v))
    except (VersionError, TypeError):
        return versions[0]


def _event_key(scheme: str, kind: str, value: str) -> Any:
    if (kind == "introduced" and value == "0") or (kind == "limit" and "*" in value):
        return None
    return version_key(scheme, value)


def _by_version(a: tuple[str, str, Any], b: tuple[str, str, Any]) -> int:
    if a[2] is None or b[2] is None:  # introduced "0" sorts before every version
        return (a[2] is not None) - (b[2] is not None)
    return (a[2] > b[2]) - (a[2] < b[2])
