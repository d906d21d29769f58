"""The tags a CI build gives its image: which version, commit and time built it.

From a semantic version, a commit and a build time (all facts; cli/build_facts.py finds them):

- `v1.2.3`, `v1.2`, `v1`: the version, and for a release the minor and major lines it
  belongs to. A pre-release (`1.3.0-rc.1`) gets only its own tag: `v1.3` and `v1` name
  releases. Build metadata is kept with its `+` as `-` (a tag has no `+`):
  `1.2.3+build.5` is `v1.2.3-build.5`, with `v1.2` and `v1` since it is a release.
- `sha-a1b2c3d`: the commit, abbreviated to 7 hex digits.
- `v1.2.3-a1b2c3d`: the version at that commit (only with a version).
- `20250203-143045-a1b2c3d`: the build time in UTC and the commit.
- the environment's name (`staging`), on request.
- `latest`, only when asked for, and never for a production environment.

Versions follow Semantic Versioning 2.0 as the `semver` package parses it (MAJOR.MINOR.PATCH,
no leading zeros, `-PRERELEASE`, `+BUILD`), with an optional leading `v`. Every tag is checked
against the distribution spec's tag grammar before it is returned.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import semver

from cargohold.oci.names import is_valid_tag

SHORT_COMMIT = 7
LATEST = "latest"
# Environment names that mean production: the first word of the name (`prod`, `production-eu`).
PRODUCTION_NAMES = frozenset({"prod", "production", "prd", "live"})
_COMMIT = re.compile(r"[0-9a-f]{7,64}")
# What a tag is taken for a version by: it starts with a digit, or `v` and a digit.
_LOOKS_LIKE_VERSION = re.compile(r"[vV]?\d")


class TagRefused(ValueError):
    """The facts give no valid set of tags; the message says why, in one line."""


@dataclass(frozen=True)
class Version:
    """A semantic version as the tags spell it."""

    major: int
    minor: int
    patch: int
    prerelease: str | None
    build: str | None

    @property
    def text(self) -> str:
        """The version as written (`1.2.3-rc.1+build.5`)."""
        core = f"{self.major}.{self.minor}.{self.patch}"
        pre = f"-{self.prerelease}" if self.prerelease else ""
        build = f"+{self.build}" if self.build else ""
        return core + pre + build

    @property
    def tag(self) -> str:
        """`v1.2.3-rc.1-build.5`: the version with build metadata's `+` as `-`."""
        return "v" + self.text.replace("+", "-")

    @property
    def is_release(self) -> bool:
        return self.prerelease is None


def looks_like_version(text: str) -> bool:
    """Whether a git tag or ref is meant as a version (`v1.2`, `2.0.0`), not `nightly`."""
    return _LOOKS_LIKE_VERSION.match(text) is not None


def parse_version(text: str) -> Version:
    """`1.2.3`, `v1.2.3-rc.1`, `1.2.3+build.5`; anything else is TagRefused."""
    given = text.strip()
    bare = given[1:] if given[:1] in ("v", "V") else given
    try:
        parsed = semver.Version.parse(bare)
    except (ValueError, TypeError):
        raise TagRefused(
            f"{given!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], "
            "e.g. 1.2.3, v1.2.3-rc.1)"
        ) from None
    return Version(parsed.major, parsed.minor, parsed.patch, parsed.prerelease, parsed.build)


def check_commit(text: str) -> str:
    """A commit as hex (7 to 64 digits, lower-cased); anything else is TagRefused."""
    commit = text.strip().lower()
    if not _COMMIT.fullmatch(commit):
        raise TagRefused(f"{text!r} is not a commit (7 to 64 hex digits)")
    return commit


def is_production(environment: str) -> bool:
    first = re.split(r"[-_.]", environment.lower(), maxsplit=1)[0]
    return first in PRODUCTION_NAMES


@dataclass(frozen=True)
class BuildFacts:
    """What a build's tags say: commit (hex), build time (aware), and optionally a version,
    an environment and whether `latest` was asked for."""

    commit: str
    time: dt.datetime
    version: Version | None = None
    environment: str | None = None
    latest: bool = False


def stamp(time: dt.datetime) -> str:
    """`20250203-143045`: the time in UTC, to the second."""
    return time.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")


def image_tags(facts: BuildFacts) -> list[str]:
    """The tags, in the order above, without repeats; TagRefused when one is not allowed."""
    short = check_commit(facts.commit)[:SHORT_COMMIT]
    tags: list[str] = []
    version = facts.version
    if version is not None:
        tags.append(version.tag)
        if version.is_release:
            tags += [f"v{version.major}.{version.minor}", f"v{version.major}"]
    tags.append(f"sha-{short}")
    if version is not None:
        tags.append(f"{version.tag}-{short}")
    tags.append(f"{stamp(facts.time)}-{short}")
    environment = facts.environment
    if environment is not None:
        if not is_valid_tag(environment):
            raise TagRefused(
                f"environment {environment!r} is not a valid tag "
                "([A-Za-z0-9_][A-Za-z0-9._-], at most 128 characters)"
            )
        if environment == LATEST and not facts.latest:
            raise TagRefused("the environment tag would be `latest`: give --latest to allow it")
        tags.append(environment)
    if facts.latest:
        if environment is not None and is_production(environment):
            raise TagRefused(
                f"`latest` is never given to a production image (environment {environment!r}): "
                "deploy a version or commit tag"
            )
        tags.append(LATEST)
    for tag in tags:
        if not is_valid_tag(tag):
            raise TagRefused(f"the tag {tag!r} is over 128 characters: shorten the version")
    return list(dict.fromkeys(tags))
