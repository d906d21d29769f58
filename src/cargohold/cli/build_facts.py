"""Where `cargohold tag` finds the version, commit and time of a build: the options, else the
CI system's variables, else git in the working directory.

CI systems are recognised by their marker variable, and only the first one found is read:

- GitHub Actions (`GITHUB_ACTIONS=true`): `GITHUB_SHA`; the version from `GITHUB_REF_NAME`
  when `GITHUB_REF_TYPE=tag`, or from `GITHUB_REF=refs/tags/...`;
- GitLab CI (`GITLAB_CI=true`): `CI_COMMIT_SHA`, `CI_COMMIT_TAG`;
- Jenkins (`JENKINS_URL`): `GIT_COMMIT`, `TAG_NAME`;
- Buildkite (`BUILDKITE=true`): `BUILDKITE_COMMIT`, `BUILDKITE_TAG`.

A CI commit that is not hex (Buildkite sends `HEAD` for a build of the branch's tip) is
skipped for git's. From git: the commit is `HEAD`; the version is the highest semantic version
among the tags on `HEAD` (`git tag --points-at`), so a commit after a release tag gets no
version tags (they would claim a release it is not); `git describe` names the nearest tag in
the note that says so. A tag that is not meant as a version (`nightly`: it does not start with
a digit or `v` and a digit) is passed over; one that is meant as one but is not a semantic
version (`v1.2`) is an error, so a mistyped release tag cannot ship untagged.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cargohold.policy.image_tags import (
    TagRefused,
    Version,
    check_commit,
    looks_like_version,
    parse_version,
)

GIT_TIMEOUT = 30


@dataclass(frozen=True)
class CiSystem:
    name: str
    marker: str  # set (to anything but "" or "false") in that CI's jobs
    commit: str
    tag: str


CI_SYSTEMS = (
    CiSystem("GitHub Actions", "GITHUB_ACTIONS", "GITHUB_SHA", "GITHUB_REF_NAME"),
    CiSystem("GitLab CI", "GITLAB_CI", "CI_COMMIT_SHA", "CI_COMMIT_TAG"),
    CiSystem("Jenkins", "JENKINS_URL", "GIT_COMMIT", "TAG_NAME"),
    CiSystem("Buildkite", "BUILDKITE", "BUILDKITE_COMMIT", "BUILDKITE_TAG"),
)


@dataclass(frozen=True)
class Found:
    """A fact and where it came from (`--commit`, `GITHUB_SHA`, `git HEAD`, ...)."""

    value: str
    source: str


@dataclass(frozen=True)
class FoundVersion:
    version: Version | None
    source: str | None
    note: str | None = None  # why there is none, for standard error


class GitError(Exception):
    """git could not answer; the message is one line."""


def run_git(directory: Path, *args: str) -> str:
    """git's standard output, stripped; GitError with git's own first line on failure."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took over {GIT_TIMEOUT} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        said = lines[0].removeprefix("fatal: ") if lines else f"exit status {done.returncode}"
        raise GitError(f"git {args[0]} in {directory}: {said}")
    return done.stdout.strip()


def ci_system(env: Mapping[str, str]) -> CiSystem | None:
    for system in CI_SYSTEMS:
        if env.get(system.marker, "").lower() not in ("", "false"):
            return system
    return None


def _ci_tag(system: CiSystem, env: Mapping[str, str]) -> Found | None:
    if system.marker == "GITHUB_ACTIONS":
        ref = env.get("GITHUB_REF", "")
        if env.get("GITHUB_REF_TYPE") == "tag" and env.get("GITHUB_REF_NAME"):
            return Found(env["GITHUB_REF_NAME"], "GITHUB_REF_NAME")
        if ref.startswith("refs/tags/"):
            return Found(ref.removeprefix("refs/tags/"), "GITHUB_REF")
        return None
    value = env.get(system.tag, "").strip()
    return Found(value, system.tag) if value else None


def find_commit(given: str | None, env: Mapping[str, str], directory: Path) -> Found:
    """The commit from --commit, the CI's variable, or git's HEAD (full hex)."""
    if given:
        return Found(check_commit(given), "--commit")
    system = ci_system(env)
    if system is not None:
        value = env.get(system.commit, "").strip().lower()
        try:
            return Found(check_commit(value), system.commit)
        except TagRefused:
            pass  # unset, or Buildkite's `HEAD`: ask git
    try:
        return Found(run_git(directory, "rev-parse", "--verify", "HEAD^{commit}"), "git HEAD")
    except GitError as exc:
        raise TagRefused(f"no commit: {exc}; run in a git work tree or give --commit") from None


def _version(text: str, source: str) -> Version:
    try:
        return parse_version(text)
    except TagRefused as exc:
        raise TagRefused(f"{source}: {exc}") from None


def find_version(
    given: str | None, env: Mapping[str, str], directory: Path, commit: Found
) -> FoundVersion:
    """The version from --version, the CI's tag, or the tags on the commit in git."""
    if given:
        return FoundVersion(_version(given, "--version"), "--version")
    system = ci_system(env)
    tag = _ci_tag(system, env) if system is not None else None
    if tag is not None:
        if looks_like_version(tag.value):
            return FoundVersion(_version(tag.value, tag.source), tag.source)
        return FoundVersion(None, None, f"{tag.source} {tag.value!r} is not a version")
    try:
        names = run_git(directory, "tag", "--points-at", commit.value).split()
    except GitError as exc:
        return FoundVersion(None, None, f"no version from git ({exc})")
    meant = sorted(name for name in names if looks_like_version(name))
    if not meant:
        return FoundVersion(None, None, _no_tag_note(directory, commit.value))
    versions = [(_version(name, f"git tag {name}"), name) for name in meant]
    version, name = max(versions, key=lambda pair: _precedence(pair[0]))
    return FoundVersion(version, f"git tag {name}")


def _precedence(version: Version) -> object:
    import semver

    return semver.Version.parse(version.text)


def _no_tag_note(directory: Path, commit: str) -> str:
    try:
        described = run_git(directory, "describe", "--tags", "--long", commit)
    except GitError:
        return "no version: no tag on this commit or before it"
    nearest, count, _ = described.rsplit("-", 2)
    return f"no version: the commit has no version tag ({count} commit(s) after {nearest})"


def parse_time(text: str) -> dt.datetime:
    """`@UNIX-SECONDS` or ISO 8601 (`2025-02-03T14:30:45Z`; no zone is UTC)."""
    try:
        if text.startswith("@"):
            return dt.datetime.fromtimestamp(int(text[1:]), dt.UTC)
        parsed = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise TagRefused(
            f"{text!r} is not a time (ISO 8601 such as 2025-02-03T14:30:45Z, @UNIX-SECONDS, "
            "`now` or `commit`)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def find_time(
    given: str | None, env: Mapping[str, str], directory: Path, commit: Found
) -> tuple[dt.datetime, str]:
    """The build time: --time (`now`, `commit`, ISO 8601, @SECONDS), else $SOURCE_DATE_EPOCH
    (reproducible builds), else now; in UTC."""
    if given == "commit":
        try:
            seconds = run_git(directory, "show", "-s", "--format=%ct", commit.value)
        except GitError as exc:
            raise TagRefused(f"--time commit: {exc}") from None
        return dt.datetime.fromtimestamp(int(seconds), dt.UTC), "commit time"
    if given and given != "now":
        return parse_time(given).astimezone(dt.UTC), "--time"
    epoch = env.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch and not given:
        try:
            return parse_time(f"@{epoch}"), "SOURCE_DATE_EPOCH"
        except TagRefused:
            raise TagRefused(f"SOURCE_DATE_EPOCH {epoch!r} is not UNIX seconds") from None
    return dt.datetime.now(dt.UTC).replace(microsecond=0), "now"
