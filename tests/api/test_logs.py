"""The server's log: one format per stream, granian's own lines included."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.support.accesslog import access_log
from tests.support.server import CargoholdServer


def test_with_json_logs_every_line_of_the_server_log_is_json(tmp_path: Path) -> None:
    # CargoholdServer sets CARGOHOLD_LOG_FORMAT=json and sends stdout and stderr to one file.
    server = CargoholdServer(tmp_path / "data", extra_env={"CARGOHOLD_LOG_FORMAT": "json"})
    server.start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as http:
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


def _access_ids(server: CargoholdServer, prefix: str) -> list[str]:
    return [
        entry["request_id"]
        for entry in access_log(server)
        if str(entry.get("request_id", "")).startswith(prefix)
    ]


def test_access_lines_reach_the_log_while_the_server_runs(tmp_path: Path) -> None:
    # Lines are written in batches off the request path, but a `tail -f` sees them soon.
    server = CargoholdServer(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as http:
            for i in range(3):
                assert http.get("/v2/", headers={"X-Request-Id": f"live-{i}"}).status_code == 200
        deadline = time.monotonic() + 10
        while len(_access_ids(server, "live-")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(_access_ids(server, "live-")) == ["live-0", "live-1", "live-2"]
        assert server.process is not None and server.process.poll() is None
    finally:
        server.stop()


def test_a_clean_stop_loses_no_access_line(tmp_path: Path) -> None:
    server = CargoholdServer(tmp_path / "data").start()
    sent = [f"stop-{i}" for i in range(300)]
    try:
        # Two connections, so that both workers are likely to have lines queued.
        with (
            httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as one,
            httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as two,
        ):
            for i, request_id in enumerate(sent):
                http = one if i % 2 else two
                assert http.get("/v2/", headers={"X-Request-Id": request_id}).status_code == 200
    finally:
        server.stop()  # SIGTERM right after the last response
    assert sorted(_access_ids(server, "stop-")) == sorted(sent)
