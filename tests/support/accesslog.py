"""Reading a test server's JSON access log (`<data-dir>-server.log`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.support.jsonlog import json_log
from tests.support.server import CargoholdServer

Entry = dict[str, Any]


def access_log(server: CargoholdServer) -> list[Entry]:
    """The access-log entries (method, path, status, ...) the server wrote so far."""
    return [entry for entry in json_log(server.log_path) if "method" in entry and "path" in entry]


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
