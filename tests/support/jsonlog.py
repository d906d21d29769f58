"""Reading a process's JSON log lines (`log_format = "json"`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def json_log(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of the log so far (a line being written, or one not JSON, is skipped)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
    return entries
