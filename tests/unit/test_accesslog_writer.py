"""The access log's batched writer: the same lines as the formatter, bounded, never blocking."""

from __future__ import annotations

import json
import logging
import os
import random
import select
import socket
import time
from pathlib import Path

import pytest

from cargohold.accesslog_writer import AccessEntry, AccessLogWriter, JsonLines, TextLines
from cargohold.logs import JsonFormatter, TextFormatter

ENTRY = AccessEntry(
    1764843672.726451,
    "PUT",
    '/v2/odd "name"/é\\manifests/v1',
    201,
    1234,
    0.0112594,  # seconds: the line says 11.259 ms
    "d5fbc010dc07476ca1b52b3e5c4b76a4",
    "127.0.0.1",
)


def _record(entry: AccessEntry) -> logging.LogRecord:
    """The record the middleware used to log for one request, through `logging`."""
    record = logging.getLogger("cargohold.access").makeRecord(
        "cargohold.access",
        logging.INFO,
        __file__,
        0,
        "%s %s %s",
        (entry.method, entry.path, entry.status),
        None,
        extra={
            "method": entry.method,
            "path": entry.path,
            "status": entry.status,
            "bytes": entry.bytes,
            "duration_ms": round(entry.seconds * 1000, 3),
            "request_id": entry.request_id,
            "client": entry.client,
        },
    )
    record.created = entry.created
    record.msecs = int((entry.created - int(entry.created)) * 1000)
    return record


def test_json_lines_are_those_of_the_json_formatter() -> None:
    assert JsonLines()(ENTRY) == JsonFormatter().format(_record(ENTRY)) + "\n"
    assert json.loads(JsonLines()(ENTRY))["path"] == ENTRY.path


def test_text_lines_are_those_of_the_text_formatter() -> None:
    assert TextLines()(ENTRY) == TextFormatter().format(_record(ENTRY)) + "\n"


def _entry(i: int) -> AccessEntry:
    return ENTRY._replace(request_id=f"req-{i}", created=time.time())


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["request_id"] for line in path.read_text().splitlines()]


def test_lines_reach_the_file_within_the_interval_without_a_close(tmp_path: Path) -> None:
    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    writer = AccessLogWriter(fd, "json", interval=0.05)
    try:
        for i in range(3):
            writer.put(_entry(i))
        deadline = time.monotonic() + 10
        while len(_ids(path)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _ids(path) == ["req-0", "req-1", "req-2"]
    finally:
        writer.close()
        os.close(fd)


def test_a_full_queue_drops_with_one_warning_instead_of_blocking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    # The thread waits an hour between rounds: nothing drains the queue but close().
    writer = AccessLogWriter(fd, "json", max_queue=5, interval=3600)
    try:
        with caplog.at_level(logging.WARNING, logger="cargohold.access"):
            started = time.monotonic()
            for i in range(50):
                writer.put(_entry(i))
            assert time.monotonic() - started < 5  # generous: put never waits for the writer
            assert writer.dropped == 45
            assert len(caplog.records) == 1
            assert "dropping lines" in caplog.records[0].getMessage()
            writer.close()
        assert _ids(path) == [f"req-{i}" for i in range(5)]
        assert "45 lines were dropped" in caplog.records[-1].getMessage()
    finally:
        writer.close()
        os.close(fd)


def test_to_a_pipe_or_socket_batches_are_written_in_whole_lines() -> None:
    # Beyond PIPE_BUF a pipe may interleave other workers' bytes: whole-line pieces only.
    # A SOCK_SEQPACKET pair keeps each write() apart, so the pieces can be seen.
    reader, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    writer = AccessLogWriter(sender.fileno(), "json", interval=3600)
    pieces = []
    try:
        for i in range(100):  # about 30 KB: several pieces, less than the socket holds
            writer.put(_entry(i))
        writer.close()
        reader.setblocking(False)
        while True:
            try:
                pieces.append(reader.recv(65536))
            except BlockingIOError:
                break
    finally:
        reader.close()
        sender.close()
    assert len(pieces) > 1
    assert all(piece.endswith(b"\n") and len(piece) <= select.PIPE_BUF for piece in pieces)
    lines = b"".join(pieces).decode().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [f"req-{i}" for i in range(100)]


def test_lines_from_the_fragment_cache_are_those_of_the_json_formatter() -> None:
    # The (method, path, status) part of a line is formatted once and reused: a repeated
    # path with another status, time or duration must still give the formatter's line.
    lines = JsonLines()
    entries = [
        ENTRY,
        ENTRY._replace(created=ENTRY.created + 1.5, seconds=0.0000004, request_id='x\u00e9"'),
        ENTRY._replace(status=404, seconds=12.3456784),
        ENTRY._replace(method="GET", bytes=0, client=""),
        ENTRY,
    ]
    expected = "".join(JsonFormatter().format(_record(e)) + "\n" for e in entries)
    assert lines.lines(entries) == expected
    assert lines.lines(tuple(e) for e in entries) == expected  # plain tuples, as queued


def test_durations_are_rounded_to_the_microsecond_as_round_does() -> None:
    rng = random.Random(9)
    lines = JsonLines()
    for _ in range(2000):
        seconds = rng.choice([rng.uniform(0, 0.01), rng.uniform(0, 100), rng.expovariate(100)])
        line = lines(ENTRY._replace(seconds=seconds))
        assert json.loads(line)["duration_ms"] == round(seconds * 1000, 3)
