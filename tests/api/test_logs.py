"""The server's log: one format per stream, granian's own lines included."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.server import CargoholdServer


def test_with_json_logs_every_line_of_the_server_log_is_json(tmp_path: Path) -> None:
    # CargoholdServer sets CARGOHOLD_LOG_FORMAT=json and sends stdout and stderr to one file.
    server = CargoholdServer(tmp_path / "data", extra_env={"CARGOHOLD_LOG_FORMAT": "json"})
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/v2/").status_code == 200
            assert http.get("/v2/_catalog").status_code == 200
            assert http.get("/v2/nothing/here/tags/list").status_code == 404
            assert http.get("/api/v1/system").status_code == 200
    finally:
        server.stop()
    lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line in the server log: {line!r}") from None
    loggers = {entry["logger"] for entry in entries}
    # The HTTP server's own lines (start, workers, shutdown) are among them.
    assert {"granian", "granian.serve"} <= loggers, loggers
    assert "cargohold.access" in loggers, loggers
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
