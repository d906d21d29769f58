"""docs/ci.md's pipelines, as a user copies them: the GitHub Actions workflow is valid YAML
whose steps lint, tag, build, scan and push in that order, and every `cargohold` command in
either pipeline is one the CLI accepts with those options (parsed by the CLI itself, not run).
Its tag steps are then run as GitHub would run them, and the push step's `cargohold tag`
(with the first step's `--time`) gives the same tags as the first."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import typer
import yaml

from cargohold.cli.main import app
from tests.cli.test_tag import GitRepo, run

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
# Where a `cargohold` command starts in a shell line, and where it ends.
_COMMAND = re.compile(r"(?:^|\$\(|&&\s*|;\s*)cargohold\s+([^|)]*)")
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _pipelines() -> list[dict[str, object]]:
    return [yaml.safe_load(block) for block in _BLOCK.findall(DOC.read_text())]


def _scripts(pipeline: dict[str, object]) -> list[str]:
    """Every shell script of a pipeline: GitHub steps' `run`, GitLab's script lists."""
    scripts: list[str] = []
    jobs = pipeline.get("jobs") or pipeline  # GitLab: jobs are the top-level keys
    for job in jobs.values():  # type: ignore[attr-defined]
        if not isinstance(job, dict):
            continue
        for step in job.get("steps", []):
            if "run" in step:
                scripts.append(step["run"])
        for key in ("before_script", "script"):
            scripts.extend(job.get(key, []))
    return scripts


def _commands(script: str) -> list[list[str]]:
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        for match in _COMMAND.finditer(line.strip()):
            text = _EXPRESSION.sub("EXPR", match.group(1))
            commands.append(shlex.split(text))
    return commands


def test_the_github_workflow_lints_tags_builds_scans_and_pushes_in_order() -> None:
    workflow = _pipelines()[0]
    steps = workflow["jobs"]["image"]["steps"]  # type: ignore[index]
    order = []
    for step in steps:
        script = step.get("run", "")
        for word, what in (
            ("cargohold lint", "lint"),
            ("cargohold tag --image", "tag"),
            ("docker build", "build"),
            ("cargohold scan", "scan"),
            ("docker push", "push"),
        ):
            if word in script and what not in order:
                order.append(what)
    assert order == ["lint", "tag", "build", "scan", "push"]


def _available(name: str) -> bool:
    # `lint` lands with its own module; until it is merged its lines are not checked here.
    return name != "lint" or importlib.util.find_spec("cargohold.cli.lint_cmd") is not None


@pytest.mark.parametrize("index", [0, 1], ids=["github", "gitlab"])
def test_every_cargohold_command_in_the_pipelines_parses(index: int) -> None:
    root = typer.main.get_command(app)
    commands = [c for s in _scripts(_pipelines()[index]) for c in _commands(s)]
    assert {"tag", "scan"} <= {c[0] for c in commands}
    for words in commands:
        name, args = words[0], words[1:]
        if not _available(name):
            continue
        assert name in root.commands, words  # type: ignore[attr-defined]
        command = root.commands[name]  # type: ignore[attr-defined]
        while hasattr(command, "commands"):  # a group (`vulndb import`); typer's own click
            name, args = args[0], args[1:]
            assert name in command.commands, words
            command = command.commands[name]
        try:
            command.make_context(name, list(args))
        except Exception as exc:  # typer's click's UsageError, BadParameter, ...
            pytest.fail(f"{' '.join(words)}: {exc}")


def test_the_workflows_two_tag_steps_give_the_same_tags(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "app")
    commit = repo.commit("release")
    repo.tag("v1.2.3")
    outputs = tmp_path / "github_output"
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": commit,
        "GITHUB_REF": "refs/tags/v1.2.3",
        "GITHUB_OUTPUT": str(outputs),
        "IMAGE": "registry.example.com/shop/api",
    }
    steps = {s.get("id") or s.get("name"): s for s in _pipelines()[0]["jobs"]["image"]["steps"]}  # type: ignore[index]
    [first] = _commands(steps["tags"]["run"])
    first = [word.replace("$IMAGE", github["IMAGE"]) for word in first]
    assert run(*first[1:], cwd=repo.path, env=github).exit_code == 0
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    # The push step, without its --push (no registry here): its tags must be the first's.
    push_commands = [c for c in _commands(steps["Push"]["run"]) if c[0] == "tag"]
    [again] = push_commands
    time = again[again.index("--time") + 1]
    assert time == "EXPR"
    second = run("--time", values["time"], "-i", github["IMAGE"], cwd=repo.path, env=github)
    assert second.exit_code == 0, second.stderr
    first_tags = [
        line for line in outputs.read_text().splitlines() if line.startswith(github["IMAGE"])
    ]
    assert second.stdout.splitlines() == first_tags
    assert f"{github['IMAGE']}:v1.2.3" in first_tags
