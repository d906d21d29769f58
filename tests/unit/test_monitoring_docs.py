"""The example alert rules docs/monitoring.md gives are valid Prometheus rules, over metrics the
server has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from cargohold.metrics import families

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def _rules() -> str:
    text = DOC.read_text()
    section = text[text.index("### Example alert rules") :]
    found = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert found, "no rules block in docs/monitoring.md"
    return found.group(1)


def test_the_example_alert_rules_pass_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(_rules())
    done = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_and_the_metric_list_name_only_metrics_that_exist() -> None:
    names = {value.name for value in vars(families).values() if isinstance(value, families.Family)}
    known = set()
    for name in names:
        known |= {name, f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    documented = set(re.findall(r"\bcargohold_[a-z_]+", DOC.read_text()))
    assert documented - known == set()
    listed = set(re.findall(r"`(cargohold_[a-z_]+)`", DOC.read_text()))
    assert {n if n in listed else f"{n}_total" for n in names} <= listed
