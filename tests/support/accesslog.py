"""Reading a test server's JSON access log (`<data-dir>-server.log`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.support.server import CargoholdServer

Entry = dict[str, Any]


def access_log(server: CargoholdServer) -> list[Entry]:
    """The access-log entries (method, path, status, ...) the server wrote so far."""
    entries = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if "method" in entry and "path" in entry:
            entries.append(entry)
    return entries


def wait_for_entries(
    server: CargoholdServer,
    predicate: Callable[[list[Entry]], bool],
    since: int = 0,
    timeout: float = 10,
) -> list[Entry]:
    """Entries after the first `since`, once `predicate` holds for them.

    A worker logs a request after sending its response, so a client may finish a
    moment before the last lines reach the file.
    """
    deadline = time.monotonic() + timeout
    while True:
        entries = access_log(server)[since:]
        if predicate(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.1)
