"""`cargohold lint` as a pipeline runs it: formats, the severity gate, configs and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cargohold.cli.main import app
from cargohold.lint.catalog import RULES

NAIVE = """\
FROM node:18
WORKDIR /app
COPY package*.json ./
RUN npm install
COPY . .
RUN npm run build
CMD ["node", "dist/index.js"]
"""


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["lint", *args], input=stdin)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory, the current directory, with the seed's naive Dockerfile."""
    (tmp_path / "Dockerfile").write_text(NAIVE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_text_report_names_rule_line_and_fix(project: Path) -> None:
    result = run()
    assert result.exit_code == 0, result.output
    assert "Dockerfile:4 CH201 warning: `npm install`" in result.output
    assert "fix: Use `npm ci`" in result.output
    assert "Dockerfile:5 CH306 warning" in result.output
    assert result.output.rstrip().endswith("5 finding(s) in 1 Dockerfile(s)")


def test_exit_code_counts_only_the_severities_asked_for(project: Path) -> None:
    assert run("--exit-code", "3").exit_code == 3
    assert run("--exit-code", "3", "--severity", "error").exit_code == 0
    assert run("--exit-code", "3", "--severity", "ERROR,warning").exit_code == 3
    (project / "Dockerfile").write_text(
        NAIVE.replace("FROM node:18", "FROM node:18\nENV API_TOKEN=x")
    )
    assert run("--exit-code", "3", "--severity", "error").exit_code == 3
    shown = run("--severity", "error")
    assert "CH303" in shown.output and "CH201" not in shown.output


def test_json_report(project: Path) -> None:
    result = run("--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (file,) = document["files"]
    assert file["path"] == "Dockerfile"
    found = {(f["rule"], f["line"]) for f in file["findings"]}
    assert found == {("CH101", 1), ("CH102", 1), ("CH201", 4), ("CH202", 4), ("CH306", 5)}
    first = file["findings"][0]
    assert set(first) == {"rule", "name", "severity", "line", "endLine", "message", "fix"}


def test_sarif_report_for_github_code_scanning(project: Path) -> None:
    (project / "api").mkdir()
    (project / "api" / "Dockerfile").write_text("FROM alpine:3.19\nENV DB_PASSWORD=x\nUSER 1\n")
    result = run("-f", "sarif", "-o", "lint.sarif", "Dockerfile", "api/Dockerfile")
    assert result.exit_code == 0, result.output
    document = json.loads((project / "lint.sarif").read_text())
    assert document["version"] == "2.1.0"
    assert document["$schema"].endswith("sarif-2.1.0.json")
    (run_,) = document["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "cargohold"
    assert [r["id"] for r in driver["rules"]] == [r.id for r in RULES]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    by_id = {r["id"]: r for r in driver["rules"]}
    assert by_id["CH303"]["properties"]["security-severity"] == "8.0"
    assert by_id["CH402"]["defaultConfiguration"]["level"] == "note"
    results = run_["results"]
    for item in results:
        assert driver["rules"][item["ruleIndex"]]["id"] == item["ruleId"]
        (location,) = item["locations"]
        region = location["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["endLine"] >= region["startLine"]
    where = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in results
    }
    assert ("CH201", "Dockerfile") in where
    assert ("CH303", "api/Dockerfile") in where
    secret = next(r for r in results if r["ruleId"] == "CH303")
    assert secret["level"] == "error"


def test_config_file_in_the_current_directory(project: Path) -> None:
    (project / ".cargohold-lint.yaml").write_text(
        "ignore: [CH306]\n"
        "approved_bases: ['node:20-alpine', 'gcr.io/distroless/*']\n"
        "exceptions:\n  - rules: [ch102]\n    paths: ['Dockerfile']\n    reason: demo\n"
    )
    found = json.loads(run("-f", "json").output)["files"][0]["findings"]
    assert {f["rule"] for f in found} == {"CH101", "CH105", "CH201", "CH202"}


def test_config_errors_are_one_line(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("ignore: [CH999]\n")
    result = run("--config", str(bad))
    assert result.exit_code == 1
    assert "unknown rule CH999" in result.output
    bad.write_text("approved_base: [x]\n")
    result = run("--config", str(bad))
    assert result.exit_code == 1 and "approved_base" in result.output
    assert "Traceback" not in result.output
    assert run("--config", str(tmp_path / "missing.yaml")).exit_code == 1


def test_unreadable_or_wrong_dockerfiles_are_one_line_errors(project: Path) -> None:
    missing = run("nothere/Dockerfile")
    assert missing.exit_code == 1
    assert missing.output.strip() == "error: nothere/Dockerfile: no such file"
    (project / "Dockerfile").write_text("RUN echo hi\n")
    result = run()
    assert result.output == "error: Dockerfile:1: RUN before the first FROM\n"
    assert result.exit_code == 1
    (project / "Dockerfile").write_text("# just a comment\n")
    assert run().output == "error: Dockerfile: no FROM instruction: not a Dockerfile\n"
    assert run("--severity", "fatal").exit_code == 2


def test_stdin_a_directory_and_the_context_option(project: Path) -> None:
    piped = run("-", stdin=NAIVE)
    assert "CH201" in piped.output
    assert "CH306" not in piped.output  # stdin has no build context
    assert "CH201" in run(str(project)).output  # a directory: its Dockerfile
    (project / "ctx").mkdir()
    (project / "ctx" / ".dockerignore").write_text(".git\n")
    assert "CH306" not in run("--context", "ctx").output
    assert run("--context", "nowhere").exit_code == 1


def test_inline_ignore_and_unknown_rule_warning(project: Path) -> None:
    text = NAIVE.replace("RUN npm install", "# cargohold-ignore CH201 CH202 CH777\nRUN npm install")
    (project / "Dockerfile").write_text(text)
    result = run()
    assert "CH201" not in result.output and "CH202" not in result.output
    assert "warning: Dockerfile:5: cargohold-ignore names unknown rule CH777" in result.output


def test_list_rules() -> None:
    result = run("--list-rules")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(RULES)
    assert lines[0].startswith("CH101  WARNING  build-tools-in-final-image")
