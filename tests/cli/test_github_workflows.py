"""The GitHub Actions workflows the docs show, as a user copies them into
`.github/workflows/`: each is one GitHub accepts (checked against GitHub's workflow schema, the
copy check-jsonschema ships as `vendor.github-workflows`; nothing is fetched), and the robot
login in docs/security.md keeps its secret in the repository's secrets. The steps themselves
run elsewhere against a real server: the robot's `docker login --password-stdin` and push in
tests/clients/test_docker.py, the pipeline's cargohold commands in test_ci_example.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
# check-jsonschema's built-in copy of GitHub's workflow schema (SchemaStore's).
SCHEMA = "vendor.github-workflows"


def _workflows() -> dict[str, str]:
    """Every YAML block of the docs that is a whole GitHub workflow (`on` and `jobs` whose
    jobs have steps), by document and position."""
    found = {}
    for doc in sorted(DOCS.glob("*.md")):
        for index, block in enumerate(_BLOCK.findall(doc.read_text())):
            parsed = yaml.safe_load(block)
            # YAML 1.1 reads the key `on` as true.
            if not isinstance(parsed, dict) or not ({"on", True} & parsed.keys()):
                continue
            jobs = parsed.get("jobs")
            if isinstance(jobs, dict) and all("steps" in job for job in jobs.values()):
                found[f"{doc.name}#{index}"] = block
    return found


WORKFLOWS = _workflows()


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", SCHEMA, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_docs_show_the_release_and_the_pipeline_workflows() -> None:
    assert {name.split("#")[0] for name in WORKFLOWS} >= {"ci.md", "security.md"}


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_each_workflow_is_one_github_accepts(name: str, tmp_path: Path) -> None:
    path = tmp_path / "workflow.yml"
    path.write_text(WORKFLOWS[name])
    checked = _check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_refuses_a_broken_workflow(tmp_path: Path) -> None:
    """The check bites: the release workflow with its job's runner misspelt, and with a step
    that both runs a script and uses an action, is refused."""
    [release] = [text for name, text in WORKFLOWS.items() if name.startswith("security.md")]
    for broken in (
        release.replace("runs-on:", "runs_on:"),
        release.replace("      - name: Build and push\n", "      - uses: actions/checkout@v4\n"),
    ):
        assert broken != release
        path = tmp_path / "broken.yml"
        path.write_text(broken)
        checked = _check(path)
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert "validation errors" in checked.stdout


def test_the_release_workflow_signs_in_as_a_robot_with_a_secret_from_the_repository() -> None:
    [release] = [text for name, text in WORKFLOWS.items() if name.startswith("security.md")]
    steps = yaml.safe_load(release)["jobs"]["image"]["steps"]
    [login] = [step for step in steps if step.get("uses", "").startswith("docker/login-action@")]
    credentials = login["with"]
    assert credentials["username"].startswith("robot$")  # the default auth_robot_prefix
    assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", credentials["password"])
    pushes = [step["run"] for step in steps if "docker push" in step.get("run", "")]
    registry = credentials["registry"]
    assert pushes and all(f"docker push {registry}/" in script for script in pushes)
    assert steps.index(login) < min(steps.index(s) for s in steps if "run" in s)
