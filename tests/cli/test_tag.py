"""`cargohold tag` in real git repositories and with the variables real CI systems set.

What a pipeline relies on: a release commit gets the seed's tags (`v1.2.3`, `v1.2`, `v1`,
`sha-a1b2c3d`, `v1.2.3-a1b2c3d`, `20250203-143045-a1b2c3d`), a commit after a release gets no
version tags, pre-releases and build metadata are spelled as valid tags, a mistyped version
stops the build, `latest` never reaches a production image, and the output is what
`docker build` and GitHub Actions read.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cargohold.cli.build_facts import CI_SYSTEMS
from cargohold.cli.main import app

RELEASE_TIME = "2025-02-03T14:30:45Z"
STAMP = "20250203-143045"
# Every variable the command reads from the environment, unset unless a test sets it.
CI_VARIABLES = {
    name for system in CI_SYSTEMS for name in (system.marker, system.commit, system.tag)
} | {"GITHUB_REF", "GITHUB_REF_TYPE", "GITHUB_OUTPUT", "SOURCE_DATE_EPOCH", "CARGOHOLD_REGISTRY"}
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Release Bot",
    "GIT_AUTHOR_EMAIL": "release@example.com",
    "GIT_COMMITTER_NAME": "Release Bot",
    "GIT_COMMITTER_EMAIL": "release@example.com",
}


class GitRepo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, date: str | None = None) -> str:
        env = {**os.environ, **GIT_ENV}
        if date:
            env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()

    def commit(self, message: str, date: str = "2025-02-01T10:00:00Z") -> str:
        (self.path / "log.txt").open("a").write(message + "\n")
        self.git("add", "log.txt")
        self.git("commit", "-q", "-m", message, date=date)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, annotated: bool = True) -> None:
        self.git("tag", *(["-a", "-m", name] if annotated else []), name)


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "app")


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """`cargohold tag ARGS` in the work tree `cwd`, with only the CI variables in `env`."""
    environment: dict[str, str | None] = dict.fromkeys(CI_VARIABLES)
    environment.update(env or {})
    where = ["-C", str(cwd)] if cwd else []
    return CliRunner().invoke(app, ["tag", *where, *args], env=environment)


def tags(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> list[str]:
    result = run(*args, cwd=cwd, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout.splitlines()


def refused(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """The one-line error of a refused command (exit status 1, nothing on standard output)."""
    result = run(*args, cwd=cwd, env=env)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_a_release_commit_gets_the_seeds_tags(git_repo: GitRepo) -> None:
    git_repo.commit("first")
    head = git_repo.commit("release 1.2.3")
    git_repo.tag("v1.2.3")
    short = head[:7]
    assert tags("--time", RELEASE_TIME, cwd=git_repo.path) == [
        "v1.2.3",
        "v1.2",
        "v1",
        f"sha-{short}",
        f"v1.2.3-{short}",
        f"{STAMP}-{short}",
    ]


def test_a_commit_after_the_release_gets_no_version_tags(git_repo: GitRepo) -> None:
    git_repo.commit("release")
    git_repo.tag("v1.2.3", annotated=False)
    head = git_repo.commit("fix")
    result = run("--time", RELEASE_TIME, cwd=git_repo.path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"sha-{head[:7]}", f"{STAMP}-{head[:7]}"]
    assert "1 commit(s) after v1.2.3" in result.stderr
    assert "give --version" in result.stderr


def test_the_highest_version_on_the_commit_wins_and_other_tags_are_passed_over(
    git_repo: GitRepo,
) -> None:
    head = git_repo.commit("release")
    for name in ("v1.9.0", "v1.10.0", "nightly", "deploy-eu"):
        git_repo.tag(name)
    assert tags("--time", RELEASE_TIME, cwd=git_repo.path)[:3] == ["v1.10.0", "v1.10", "v1"]
    assert f"v1.10.0-{head[:7]}" in tags(cwd=git_repo.path)


def test_pre_releases_and_build_metadata(git_repo: GitRepo) -> None:
    head = git_repo.commit("candidate")[:7]
    git_repo.tag("v2.0.0-rc.1")
    # A pre-release names only itself: v2.0 and v2 stay on releases.
    assert tags("--time", RELEASE_TIME, cwd=git_repo.path) == [
        "v2.0.0-rc.1",
        f"sha-{head}",
        f"v2.0.0-rc.1-{head}",
        f"{STAMP}-{head}",
    ]
    # Build metadata keeps its text with `-` for the `+` a tag cannot hold.
    built = tags("--version", "1.2.3+build.5", "--time", RELEASE_TIME, cwd=git_repo.path)
    assert built[:3] == ["v1.2.3-build.5", "v1.2", "v1"]
    assert f"v1.2.3-build.5-{head}" in built
    both = tags("--version", "v3.0.0-beta.2+exp.sha.5114f85", cwd=git_repo.path)
    assert both[0] == "v3.0.0-beta.2-exp.sha.5114f85"


@pytest.mark.parametrize(
    ("version", "said"),
    [
        ("1.2", "'1.2' is not a semantic version"),
        ("01.2.3", "'01.2.3' is not a semantic version"),
        ("1.2.3-rc..1", "'1.2.3-rc..1' is not a semantic version"),
        ("1.2.3_rc1", "'1.2.3_rc1' is not a semantic version"),
        ("1.0.0-" + "a" * 130, "is over 128 characters"),
    ],
)
def test_an_invalid_version_is_refused(git_repo: GitRepo, version: str, said: str) -> None:
    git_repo.commit("one")
    assert said in refused("--version", version, cwd=git_repo.path)


def test_a_mistyped_release_tag_stops_the_build(git_repo: GitRepo) -> None:
    git_repo.commit("release")
    git_repo.tag("v1.2")
    error = refused(cwd=git_repo.path)
    assert "git tag v1.2: 'v1.2' is not a semantic version" in error


@pytest.mark.parametrize(
    ("ci", "tagged"),
    [
        ({"GITHUB_ACTIONS": "true", "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v3.1.4"}, True),
        ({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/v3.1.4"}, True),
        ({"GITHUB_ACTIONS": "true", "GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "main"}, False),
        ({"GITLAB_CI": "true", "CI_COMMIT_TAG": "v3.1.4"}, True),
        ({"GITLAB_CI": "true"}, False),
        ({"JENKINS_URL": "https://ci.example/", "TAG_NAME": "3.1.4"}, True),
        ({"BUILDKITE": "true", "BUILDKITE_TAG": "v3.1.4"}, True),
    ],
    ids=[
        "github-tag",
        "github-ref",
        "github-branch",
        "gitlab-tag",
        "gitlab",
        "jenkins",
        "buildkite",
    ],
)
def test_ci_variables_give_version_and_commit_without_git(
    tmp_path: Path, ci: dict[str, str], tagged: bool
) -> None:
    commit = "4f2a9c1d7e0b3a5c6d8e9f0a1b2c3d4e5f6a7b8c"
    variable = {
        "GITHUB_ACTIONS": "GITHUB_SHA",
        "GITLAB_CI": "CI_COMMIT_SHA",
        "JENKINS_URL": "GIT_COMMIT",
        "BUILDKITE": "BUILDKITE_COMMIT",
    }[next(iter(ci))]
    # No git work tree here (a CI job that got the source some other way).
    found = tags("--time", RELEASE_TIME, cwd=tmp_path, env={**ci, variable: commit})
    expected = ["sha-4f2a9c1", f"{STAMP}-4f2a9c1"]
    if tagged:
        expected = ["v3.1.4", "v3.1", "v3", "sha-4f2a9c1", "v3.1.4-4f2a9c1", f"{STAMP}-4f2a9c1"]
    assert found == expected


def test_ci_variables_come_before_git_and_options_before_both(git_repo: GitRepo) -> None:
    head = git_repo.commit("release")
    git_repo.tag("v1.0.0")
    github = {"GITHUB_ACTIONS": "true", "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.0.1"}
    github["GITHUB_SHA"] = "a" * 40
    assert tags(cwd=git_repo.path, env=github)[:2] == ["v1.0.1", "v1.0"]
    assert "sha-aaaaaaa" in tags(cwd=git_repo.path, env=github)
    given = tags("--version", "9.9.9", "--commit", "b" * 40, cwd=git_repo.path, env=github)
    assert given[0] == "v9.9.9" and "sha-bbbbbbb" in given
    # A CI commit that is not one (Buildkite's `HEAD` for a branch tip build) defers to git.
    buildkite = {"BUILDKITE": "true", "BUILDKITE_COMMIT": "HEAD"}
    assert f"sha-{head[:7]}" in tags(cwd=git_repo.path, env=buildkite)
    # A tag build whose tag is not a version gets no version tags, and says why.
    nightly = run(cwd=git_repo.path, env={"GITLAB_CI": "true", "CI_COMMIT_TAG": "nightly"})
    assert nightly.exit_code == 0 and nightly.stdout.splitlines()[0] == f"sha-{head[:7]}"
    assert "CI_COMMIT_TAG 'nightly' is not a version" in nightly.stderr


def test_latest_only_when_asked_and_never_for_production(git_repo: GitRepo) -> None:
    git_repo.commit("release")
    git_repo.tag("v1.2.3")
    assert "latest" not in tags(cwd=git_repo.path)
    assert tags("--latest", cwd=git_repo.path)[-1] == "latest"
    staging = tags("-e", "staging", "--latest", cwd=git_repo.path)
    assert staging[-2:] == ["staging", "latest"]
    for production in ("production", "prod", "Production", "prod-eu"):
        error = refused("-e", production, "--latest", cwd=git_repo.path)
        assert "`latest` is never given to a production image" in error
    assert tags("-e", "production", cwd=git_repo.path)[-1] == "production"
    assert "give --latest to allow it" in refused("-e", "latest", cwd=git_repo.path)
    assert "is not a valid tag" in refused("-e", "eu/west", cwd=git_repo.path)


def test_time_from_the_options_source_date_epoch_or_the_commit(git_repo: GitRepo) -> None:
    head = git_repo.commit("release", date="2024-12-31T23:59:58+02:00")[:7]
    assert tags("--time", "@0", cwd=git_repo.path)[-1] == f"19700101-000000-{head}"
    # A time without a zone is UTC; one with a zone is shown in UTC.
    assert tags("--time", "2025-02-03T14:30:45", cwd=git_repo.path)[-1] == f"{STAMP}-{head}"
    assert tags("--time", "2025-02-03T16:30:45+02:00", cwd=git_repo.path)[-1] == f"{STAMP}-{head}"
    epoch = {"SOURCE_DATE_EPOCH": "1738593045"}
    assert tags(cwd=git_repo.path, env=epoch)[-1] == f"{STAMP}-{head}"
    assert tags("--time", "commit", cwd=git_repo.path)[-1] == f"20241231-215958-{head}"
    assert "is not a time" in refused("--time", "yesterday", cwd=git_repo.path)
    assert "SOURCE_DATE_EPOCH 'soon'" in refused(
        cwd=git_repo.path, env={"SOURCE_DATE_EPOCH": "soon"}
    )


def test_no_commit_is_an_error(tmp_path: Path) -> None:
    error = refused(cwd=tmp_path)
    assert "no commit: git rev-parse in" in error and "give --commit" in error
    assert "is not a commit" in refused("--commit", "main", cwd=tmp_path)


def test_output_for_docker_build_and_image_lists(git_repo: GitRepo) -> None:
    head = git_repo.commit("release")[:7]
    git_repo.tag("v1.2.3")
    common = ("--time", RELEASE_TIME, "-i", "registry.example/shop/api")
    lines = tags(*common, "-i", "localhost:5000/api", cwd=git_repo.path)
    assert lines[0] == "registry.example/shop/api:v1.2.3"
    assert lines[6] == "localhost:5000/api:v1.2.3" and len(lines) == 12
    [args] = tags(*common, "--format", "args", cwd=git_repo.path)
    assert args.split() == [
        word
        for tag in ("v1.2.3", "v1.2", "v1", f"sha-{head}", f"v1.2.3-{head}", f"{STAMP}-{head}")
        for word in ("-t", f"registry.example/shop/api:{tag}")
    ]
    assert "needs --image" in refused("--format", "args", cwd=git_repo.path)
    assert "without a tag or digest" in refused("-i", "shop/api:1", cwd=git_repo.path)
    assert "is not a repository name" in refused("-i", "Shop/API", cwd=git_repo.path)


def test_json_output(git_repo: GitRepo) -> None:
    head = git_repo.commit("release")
    git_repo.tag("v1.2.3-rc.1")
    report = json.loads(
        "\n".join(tags("--format", "json", "--time", RELEASE_TIME, "-e", "qa", cwd=git_repo.path))
    )
    assert report == {
        "version": "1.2.3-rc.1",
        "commit": head,
        "short_commit": head[:7],
        "time": RELEASE_TIME,
        "environment": "qa",
        "tags": [
            "v1.2.3-rc.1",
            f"sha-{head[:7]}",
            f"v1.2.3-rc.1-{head[:7]}",
            f"{STAMP}-{head[:7]}",
            "qa",
        ],
        "refs": report["tags"],
        "sources": {"commit": "git HEAD", "version": "git tag v1.2.3-rc.1", "time": "--time"},
    }


def _github_outputs(path: Path) -> dict[str, str]:
    """The outputs file as the runner reads it: NAME=VALUE and NAME<<DELIMITER blocks."""
    outputs: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            outputs[name] = "\n".join(value)
        else:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def test_github_actions_outputs(git_repo: GitRepo, tmp_path: Path) -> None:
    head = git_repo.commit("release")
    outputs_file = tmp_path / "github_output"
    outputs_file.write_text("earlier=kept\n")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": head,
        "GITHUB_REF": "refs/tags/v1.2.3",
        "GITHUB_OUTPUT": str(outputs_file),
    }
    printed = tags(
        "-f", "github", "-i", "ghcr.io/org/app", "--time", RELEASE_TIME, cwd=git_repo.path, env=env
    )
    outputs = _github_outputs(outputs_file)
    assert outputs["earlier"] == "kept"
    assert outputs["tags"].splitlines() == printed
    assert printed[0] == "ghcr.io/org/app:v1.2.3" and len(printed) == 6
    assert outputs["args"] == " ".join(f"-t {ref}" for ref in printed)
    assert outputs["version"] == "1.2.3"
    assert (outputs["commit"], outputs["short_commit"]) == (head, head[:7])
    assert outputs["sha_tag"] == f"sha-{head[:7]}"
    assert outputs["time"] == RELEASE_TIME
    assert json.loads(outputs["json"])["sources"]["version"] == "GITHUB_REF"
    del env["GITHUB_OUTPUT"]
    assert "$GITHUB_OUTPUT is not set" in refused("-f", "github", cwd=git_repo.path, env=env)


def test_push_needs_the_image_named_by_tag_or_digest(tmp_path: Path) -> None:
    given = ("--commit", "4f2a9c1d7e0b3a5c", "--version", "1.2.3")
    untagged = refused(*given, "--push", "registry.example/shop/api", cwd=tmp_path)
    assert "name the image by tag or digest" in untagged
    nowhere = refused(*given, "--push", "shop/api:build-1", cwd=tmp_path)
    assert "name the registry (HOST/REPOSITORY:TAG), or give --registry URL" in nowhere
    assert "is not a tag" in refused(*given, "--push", "registry.example/shop/api:-x", cwd=tmp_path)
