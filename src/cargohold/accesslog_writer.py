"""The access log's writer: lines formatted and written off the request path, in batches.

A request only appends a tuple of its fields to a bounded queue. One background thread per
process takes what is queued at least every `interval` seconds, formats the lines (the same
JSON or text lines as `cargohold.logs` would make) and writes them with one `write()` per
batch, so `tail -f` stays live while a busy server makes a few dozen writes a second instead
of one per request. When the writer cannot keep up, lines are dropped and counted, and a
request never waits. `close()` (on the app's lifespan shutdown and at process exit) writes
what is left.
"""

from __future__ import annotations

import atexit
import collections
import json.encoder
import logging
import multiprocessing.util
import os
import select
import stat
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

log = logging.getLogger("cargohold.access")

# json.dumps(str) with ensure_ascii, the C version: what JsonFormatter's json.dumps produces.
_quote = json.encoder.encode_basestring_ascii


class AccessEntry(NamedTuple):
    """The fields of one line, raw: the request path queues a plain tuple in this order and
    the writer does all the arithmetic and formatting."""

    created: float  # time.time() when the response ended
    method: str
    path: str
    status: int
    bytes: int
    seconds: float  # how long the request took (printed as duration_ms, to the microsecond)
    request_id: str
    client: str


# What the queue holds: an AccessEntry or a plain tuple of the same fields (cheaper to build).
Fields = tuple[float, str, str, int, int, float, str, str]


def _milliseconds(seconds: float) -> float:
    """round(seconds * 1000, 3), which took a float-to-decimal conversion (about half a
    microsecond) per line; the same value but at exact half-microsecond ties."""
    return int(seconds * 1_000_000 + 0.5) / 1000


class _Clock:
    """time.strftime once per second, not once per line."""

    def __init__(self, fmt: str, convert: Callable[[float], time.struct_time]) -> None:
        self.fmt = fmt
        self.convert = convert
        self.second = -1
        self.text = ""

    def stamp(self, created: float) -> str:
        second = int(created)
        if second != self.second:
            self.second = second
            self.text = time.strftime(self.fmt, self.convert(second))
        return self.text


# Distinct (method, path, status) fragments remembered by a formatter; a registry's traffic
# repeats a few thousand of them (tags and digests being pulled), so most lines format from
# the cache. Past this many the cache starts afresh.
_FRAGMENTS = 4096


class JsonLines:
    """The line `logs.JsonFormatter` makes for a `cargohold.access` record, byte for byte."""

    def __init__(self) -> None:
        self.clock = _Clock("%Y-%m-%dT%H:%M:%S", time.gmtime)
        self._fragments: dict[tuple[str, str, int], str] = {}

    def _fragment(self, key: tuple[str, str, int]) -> str:
        if len(self._fragments) >= _FRAGMENTS:
            self._fragments.clear()
        method, path, status = key
        fragment = self._fragments[key] = (
            f'"message": {_quote(f"{method} {path} {status}")}, '
            f'"method": {_quote(method)}, "path": {_quote(path)}, "status": {status}, '
        )
        return fragment

    def __call__(self, e: Fields) -> str:
        return self.lines((e,))

    def lines(self, entries: Iterable[Fields]) -> str:
        """The lines of a batch, joined (one loop, names bound once: this is per line)."""
        quote, fragments, stamp = _quote, self._fragments, self.clock.stamp
        out: list[str] = []
        append = out.append
        for created, method, path, status, sent, seconds, request_id, client in entries:
            fragment = fragments.get((method, path, status)) or self._fragment(
                (method, path, status)
            )
            append(
                f'{{"time": "{stamp(created)}.{int((created - int(created)) * 1000):03d}Z", '
                f'"level": "info", "logger": "cargohold.access", {fragment}"bytes": {sent}, '
                f'"duration_ms": {int(seconds * 1_000_000 + 0.5) / 1000!r}, '
                f'"request_id": {quote(request_id)}, "client": {quote(client)}}}\n'
            )
        return "".join(out)


class TextLines:
    """The line `logs.TextFormatter` makes for a `cargohold.access` record."""

    def __init__(self) -> None:
        self.clock = _Clock("%H:%M:%S", time.localtime)

    def __call__(self, e: Fields) -> str:
        created, method, path, status, sent, seconds, request_id, _client = e
        return (
            f"{self.clock.stamp(created)} {method} {path} {status} "
            f"{sent}B {round(seconds * 1000, 3)}ms id={request_id}\n"
        )


def _atomic_write_size(fd: int) -> int | None:
    """None when one write() of any size stays whole (a regular file: the kernel holds the
    file position's lock for the whole write); else PIPE_BUF, the most that a pipe (or
    a socket, a terminal) keeps from interleaving with the other workers' writes."""
    try:
        return None if stat.S_ISREG(os.fstat(fd).st_mode) else select.PIPE_BUF
    except OSError:
        return select.PIPE_BUF


class AccessLogWriter:
    """A bounded queue of access entries and the thread that writes them to `fd`."""

    def __init__(
        self, fd: int, fmt: str = "json", max_queue: int = 20_000, interval: float = 0.1
    ) -> None:
        self.fd = fd
        self.format = JsonLines() if fmt == "json" else TextLines()
        self.max_queue = max_queue
        self.interval = interval
        self.dropped = 0
        # deque.append and popleft are atomic under the GIL: no lock on the request path.
        self._queue: collections.deque[Fields] = collections.deque()
        self._chunk = _atomic_write_size(fd)
        self._stop = threading.Event()
        self._write_lock = threading.Lock()  # the thread's drain vs flush() from another
        self._thread: threading.Thread | None = None
        self._started_lock = threading.Lock()
        self._hooks_pid = 0

    def put(self, entry: Fields) -> None:
        """Queue one line; never blocks. Past `max_queue` queued lines the line is dropped."""
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "access log: the writer is %d lines behind; dropping lines until it "
                    "catches up (the count is logged at shutdown)",
                    self.max_queue,
                )
            return
        self._queue.append(entry)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._started_lock:
            if self._thread is not None:
                return
            self._stop.clear()
            if self._hooks_pid != os.getpid():
                self._hooks_pid = os.getpid()
                # Interpreter exit runs atexit; a multiprocessing child (granian's forked
                # workers) leaves through os._exit after multiprocessing's exit finalizers.
                atexit.register(self.close)
                multiprocessing.util.Finalize(self, self.close, exitpriority=100)
            self._thread = threading.Thread(
                target=self._run, name="cargohold-access-log", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Format and write every queued line now."""
        with self._write_lock:
            queue = self._queue
            # Take what is there now; lines queued meanwhile wait for the next round.
            entries = [queue.popleft() for _ in range(len(queue))]
            if entries:
                self._write(self.format.lines(entries).encode("utf-8", "replace"))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._chunk is None or len(view) <= self._chunk:
                piece = view
            else:
                # Whole lines only, so that each write stays whole next to other writers'.
                cut = bytes(view[: self._chunk]).rfind(b"\n") + 1
                piece = view[: cut or self._chunk]
            try:
                written = os.write(self.fd, piece)
            except InterruptedError:
                continue
            except OSError:
                return  # stderr gone (closed pipe): nothing left to tell
            view = view[written:]

    def close(self) -> None:
        """Write what is queued and stop the thread (it restarts if more lines come)."""
        thread = self._thread
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)
            self._thread = None
        self.flush()
        if self.dropped:
            log.warning("access log: %d lines were dropped (the writer fell behind)", self.dropped)
            self.dropped = 0

    def _after_fork(self) -> None:
        # A forked child has the parent's queue but not its thread: start afresh.
        self._queue.clear()
        self._thread = None
        self._write_lock = threading.Lock()
        self._started_lock = threading.Lock()
        self.dropped = 0


_writer: AccessLogWriter | None = None


def configure_access_writer(fd: int, fmt: str) -> AccessLogWriter:
    """The process's writer, writing `fmt` ("json" or "text") lines to `fd` (stderr)."""
    global _writer
    if _writer is not None:
        _writer.close()
    _writer = AccessLogWriter(fd, fmt)
    return _writer


def access_writer() -> AccessLogWriter:
    """The process's writer (JSON lines to stderr unless configure_access_writer chose)."""
    global _writer
    if _writer is None:
        _writer = AccessLogWriter(2, "json")
    return _writer


def _reset_after_fork() -> None:
    if _writer is not None:
        _writer._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
